-- Peer state shared by every worker (lua_shared_dict "meteor_do"), so the one worker that probes and
-- the admin API publish what all balancers read. The dict survives `nginx -s reload` (HUP), which keeps
-- health and drain state across config pushes; entries are keyed by peer name ("ip:port").
local config = require("meteor_do.config")

local dict = ngx.shared.meteor_do
local _M = { dict = dict, upstream = config.upstream }

local peers, by_name = {}, {}
for i, p in ipairs(config.peers) do
    local name = p.ip .. ":" .. p.port
    peers[i] = { index = i - 1, ip = p.ip, port = p.port, name = name }
    by_name[name] = peers[i]
end
_M.peers = peers

function _M.find(name)
    return by_name[name]
end

-- A bump tells each worker's balancer to rebuild its ring (one dict read per request instead of 2N).
local function bump()
    dict:incr("version", 1, 0)
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
local cycle = ngx.md5(tostring(ngx.now()) .. tostring({}) .. tostring(_M.release))

-- Called from init_by_lua (master, before workers fork) on every start and reload.
function _M.init()
    for _, p in ipairs(peers) do
        -- A new peer starts "up" so traffic flows at once after a push; the checker's `fall`
        -- failures take it out. Known peers keep their state (add never overwrites).
        dict:add("up:" .. p.name, true)
    end
    bump()
end

-- Called from init_worker_by_lua: a load counts as a generation only once its workers run (a reload
-- that fails after init_by_lua, e.g. on bind(), leaves the old workers and the old generation).
function _M.init_worker()
    if dict:add("cycle:" .. cycle, true) then
        dict:incr("generation", 1, 0)
    end
end

function _M.is_up(name)
    return dict:get("up:" .. name) ~= false
end

function _M.is_draining(name)
    return dict:get("drain:" .. name) == true
end

function _M.set_up(name, up)
    dict:set("up:" .. name, up)
    bump()
end

function _M.set_draining(name, draining)
    dict:set("drain:" .. name, draining)
    bump()
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
    return {
        name = p.name,
        status = _M.is_up(p.name) and "up" or "down",
        draining = _M.is_draining(p.name),
    }
end

return _M
