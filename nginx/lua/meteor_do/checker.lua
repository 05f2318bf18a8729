-- Active health checks, replacing nginx_upstream_check_module (unmaintained, needs a patched nginx).
-- One worker (id 0) probes every peer in parallel each `interval`; results go to the shared dict that
-- every worker's balancer reads. A round that is still running (timeout > interval) makes the next tick
-- skip, and a dict lock keeps an exiting worker of the previous generation from overlapping the new one.
local config = require("meteor_do.config")
local state = require("meteor_do.state")

local hc = config.health_check
local dict = state.dict
local _M = {}

local running = false

local function probe(p)
    local sock = ngx.socket.tcp()
    sock:settimeout(hc.timeout_ms)
    local ok, err = sock:connect(p.ip, p.port)
    if not ok then
        return false, "connect: " .. tostring(err)
    end
    if hc.type == "tcp" then
        sock:close()
        return true
    end
    local req = "GET " .. hc.path .. " HTTP/1.0\r\nHost: " .. hc.host ..
        "\r\nUser-Agent: meteor-do-check\r\nConnection: close\r\n\r\n"
    local sent, serr = sock:send(req)
    if not sent then
        sock:close()
        return false, "send: " .. tostring(serr)
    end
    local line, rerr = sock:receive("*l")
    sock:close()
    if not line then
        return false, "receive: " .. tostring(rerr)
    end
    local code = tonumber(line:match("^HTTP/%d%.%d (%d%d%d)"))
    if code and code >= 200 and code < 400 then
        return true
    end
    return false, "status line: " .. line
end

-- rise/fall: consecutive successes/failures, as the check module counts them.
local function record(p, ok, err)
    local name = p.name
    local up = state.is_up(name)
    if ok then
        dict:set("fall:" .. name, 0)
        local n = dict:incr("rise:" .. name, 1, 0)
        if not up and n >= hc.rise then
            state.set_up(name, true)
            ngx.log(ngx.WARN, "meteor-do: peer ", name, " is up after ", n, " good checks")
        end
    else
        dict:set("rise:" .. name, 0)
        local n = dict:incr("fall:" .. name, 1, 0)
        if up and n >= hc.fall then
            state.set_up(name, false)
            ngx.log(ngx.WARN, "meteor-do: peer ", name, " is down after ", n, " failed checks: ", err)
        end
    end
end

-- Passive evidence: the balancer saw a connect error or timeout to this peer. Counts as at most one
-- failed check per interval, so a dead peer under traffic goes down at the next probe instead of after
-- `fall` full intervals; a single fluke is undone by the next good probe.
function _M.passive_failure(p, err)
    if dict:add("passive:" .. p.name, true, hc.interval_ms / 1000) then
        record(p, false, "passive: " .. tostring(err))
    end
end

local function round(premature)
    if premature or running or ngx.worker.exiting() then
        return
    end
    -- The lock expires on its own if a worker dies mid-round; a round lasts at most 3 timeouts
    -- (connect, send, receive).
    local lock_ttl = (3 * hc.timeout_ms + hc.interval_ms) / 1000 + 1
    if not dict:add("round_lock", true, lock_ttl) then
        return
    end
    running = true
    -- pcall: an error in one round must not leave `running` set and stop the checks for good.
    local ok, err = pcall(function()
        local threads = {}
        for i, p in ipairs(state.peers) do
            threads[i] = ngx.thread.spawn(probe, p)
        end
        for i, p in ipairs(state.peers) do
            local alive, healthy, why = ngx.thread.wait(threads[i])
            if not alive then
                healthy, why = false, "probe error: " .. tostring(healthy)
            end
            record(p, healthy, why)
        end
    end)
    running = false
    dict:delete("round_lock")
    if not ok then
        ngx.log(ngx.ERR, "meteor-do: health check round failed: ", err)
    end
end

function _M.start()
    if ngx.worker.id() ~= 0 or #state.peers == 0 then
        return
    end
    local ok, err = ngx.timer.every(hc.interval_ms / 1000, round)
    if not ok then
        ngx.log(ngx.ERR, "meteor-do: cannot start health checks: ", err)
        return
    end
    ngx.timer.at(0, round)
end

return _M
