-- Peer state shared by every worker (lua_shared_dict "meteor_do"), so the one worker that probes and
-- the admin API publish what all balancers read. The dict survives `nginx -s reload` (HUP), which keeps
-- health and drain state across config pushes; entries are keyed by peer name ("ip:port").
local cjson = require("cjson.safe")
local config = require("meteor_do.config")

local ngx = ngx
local log, ERR = ngx.log, ngx.ERR
local md5, now = ngx.md5, ngx.now

local dict = ngx.shared.meteor_do
local _M = { upstream = config.upstream }

local peers, by_name = {}, {}
for i, p in ipairs(config.peers) do
    local name = p.ip .. ":" .. p.port
    -- host: the droplet's name, when the program gave one.
    peers[i] = { index = i - 1, ip = p.ip, port = p.port, name = name, host = p.host ~= "" and p.host or nil }
    by_name[name] = peers[i]
end
_M.peers = peers

function _M.find(name)
    return by_name[name]
end

-- Every write is checked: one that fails (a full dict, a value of the wrong type) is logged and the
-- caller goes on, so the state lags one write instead of a worker failing its request or round.
local function put(key, value, ttl)
    local ok, err = dict:set(key, value, ttl)
    if not ok then
        log(ERR, "meteor-do: shared dict write of ", key, " failed: ", err)
    end
    return ok
end
_M.set = put

-- add: true when this call created the key; false (silently) when it exists already.
function _M.add(key, value, ttl)
    local ok, err = dict:add(key, value, ttl)
    if not ok and err ~= "exists" then
        log(ERR, "meteor-do: shared dict add of ", key, " failed: ", err)
    end
    return ok
end

-- The new value, or nil when the increment failed.
function _M.incr(key, by)
    local n, err = dict:incr(key, by, 0)
    if not n then
        log(ERR, "meteor-do: shared dict incr of ", key, " failed: ", err)
    end
    return n
end

function _M.get(key)
    return dict:get(key)
end

function _M.delete(key)
    dict:delete(key)
end

-- A bump tells each worker's balancer to rebuild its ring (one dict read per request instead of 2N).
local function bump()
    _M.incr("version", 1)
end

-- The release id lb-push.sh wrote beside this tree (nil for local runs). Read when the config loads,
-- so a running nginx tells which tree it really runs, whatever `current` points at.
local function read_release()
    local f = io.open(config.prefix .. "/RELEASE", "r")
    if not f then
        return nil
    end
    local id = f:read("*l")
    f:close()
    return id
end
_M.release = read_release()

-- One id per config load: workers of a load count it once, a restarted worker does not again.
local cycle = md5(tostring(now()) .. tostring({}) .. tostring(_M.release))

-- Called from init_by_lua (master, before workers fork) on every start and reload.
function _M.init()
    -- The dict outlives a reload, not a start: a generation means this is a push to a running LB.
    local running = _M.get("generation") ~= nil
    for _, p in ipairs(peers) do
        -- On a start every peer begins "up", so traffic flows at once (the checker's `fall` failures
        -- take a dead one out). A peer new to a running LB (a host added by a scale-up) begins "down":
        -- it joins the ring once its first cutover has started the app and the checker has seen
        -- `rise` good checks. Known peers keep their state (add never overwrites).
        _M.add("up:" .. p.name, not running)
        -- For "state since" on the status page (os.time: ngx.now is not available in init_by_lua).
        _M.add("since:" .. p.name, os.time())
    end
    bump()
end

-- Called from init_worker_by_lua: a load counts as a generation only once its workers run (a reload
-- that fails after init_by_lua, e.g. on bind(), leaves the old workers and the old generation).
function _M.init_worker()
    if _M.add("cycle:" .. cycle, true) then
        _M.incr("generation", 1)
    end
end

function _M.is_up(name)
    return dict:get("up:" .. name) ~= false
end

function _M.is_draining(name)
    return dict:get("drain:" .. name) == true
end

function _M.set_up(name, up)
    if _M.is_up(name) ~= up then
        put("since:" .. name, now())
    end
    put("up:" .. name, up)
    bump()
end

-- false when the dict refused the write (the admin API reports it instead of claiming success).
function _M.set_draining(name, draining)
    if _M.is_draining(name) ~= draining then
        put("since:" .. name, now())
    end
    local ok = put("drain:" .. name, draining)
    bump()
    return ok
end

-- The last active check of a peer: how long it took, and its error (kept, with its time, after the
-- peer recovers, so the page can say what went wrong last).
function _M.record_check(name, ms, err)
    put("check_ms:" .. name, ms)
    put("check_at:" .. name, now())
    if err then
        put("error:" .. name, #err > 200 and err:sub(1, 200) or err)
        put("error_at:" .. name, now())
    end
end

-- What the host reported through the admin API during its last cutover: the release it runs and the
-- Node.js version it runs it with.
function _M.set_release(name, release, node)
    if release then
        put("release:" .. name, release)
    end
    if node then
        put("node:" .. name, node)
    end
end

-- Everything the status page and the admin API show about a peer.
function _M.details(name)
    return {
        since = dict:get("since:" .. name),
        check_ms = dict:get("check_ms:" .. name),
        check_at = dict:get("check_at:" .. name),
        error = dict:get("error:" .. name),
        error_at = dict:get("error_at:" .. name),
        release = dict:get("release:" .. name),
        node = dict:get("node:" .. name),
    }
end

function _M.counters(name)
    return dict:get("rise:" .. name) or 0, dict:get("fall:" .. name) or 0
end

function _M.version()
    return dict:get("version") or 0
end

function _M.generation()
    return dict:get("generation") or 0
end

function _M.describe(p)
    local null = cjson.null
    return {
        name = p.name,
        host = p.host or null,
        status = _M.is_up(p.name) and "up" or "down",
        draining = _M.is_draining(p.name),
        release = dict:get("release:" .. p.name) or null,
        node = dict:get("node:" .. p.name) or null,
    }
end

return _M
