-- Active health checks, replacing nginx_upstream_check_module (unmaintained, needs a patched nginx).
-- One worker (id 0) probes every peer in parallel each `interval`; results go to the shared dict that
-- every worker's balancer reads. A round that is still running (timeout > interval) makes the next tick
-- skip, and a dict lock keeps an exiting worker of the previous generation from overlapping the new one.
local config = require("meteor_do.config")
local state = require("meteor_do.state")

local ngx = ngx
local log, ERR, WARN = ngx.log, ngx.ERR, ngx.WARN
local tcp, sleep, now, update_time = ngx.socket.tcp, ngx.sleep, ngx.now, ngx.update_time
local spawn, wait = ngx.thread.spawn, ngx.thread.wait
local every, at = ngx.timer.every, ngx.timer.at
local worker_id, worker_exiting, worker_pid = ngx.worker.id, ngx.worker.exiting, ngx.worker.pid
local floor, min = math.floor, math.min

local hc = config.health_check
local _M = {}

local running = false
local LOCK = "round_lock"

local function probe(p, timeout_ms)
    local sock = tcp()
    sock:settimeout(timeout_ms or hc.timeout_ms)
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

-- The probe, timed (ms) for the status page; the clock is refreshed around it (ngx.now is cached).
local function timed_probe(p)
    update_time()
    local started = now()
    local ok, err = probe(p)
    update_time()
    return ok, err, floor((now() - started) * 10000 + 0.5) / 10
end

-- rise/fall: consecutive successes/failures, as the check module counts them.
local function record(p, ok, err)
    local name = p.name
    local up = state.is_up(name)
    if ok then
        state.set("fall:" .. name, 0)
        local n = state.incr("rise:" .. name, 1)
        if n and not up and n >= hc.rise then
            state.set_up(name, true)
            log(WARN, "meteor-do: peer ", name, " is up after ", n, " good checks")
        end
    else
        state.set("rise:" .. name, 0)
        local n = state.incr("fall:" .. name, 1)
        if n and up and n >= hc.fall then
            state.set_up(name, false)
            log(WARN, "meteor-do: peer ", name, " is down after ", n, " failed checks: ", err)
        end
    end
end

-- Marked down as if `fall` checks had failed: only `rise` good probes bring it back.
local function mark_down(p, why)
    state.set("rise:" .. p.name, 0)
    state.set("fall:" .. p.name, hc.fall)
    state.set_up(p.name, false)
    log(WARN, "meteor-do: peer ", p.name, " is down at once: ", why)
end

local function confirm(premature, p)
    if premature then
        return
    end
    local ok, err = probe(p)
    if not ok then
        log(WARN, "meteor-do: peer ", p.name, " stays down: ", err)
        return
    end
    -- It passes a health check: the failure was a pooled connection the app had closed. Up again,
    -- unless an active check counted meanwhile.
    if state.get("fall:" .. p.name) == hc.fall then
        state.set("fall:" .. p.name, 0)
        state.set_up(p.name, true)
        log(WARN, "meteor-do: peer ", p.name, " is up again: it passes a health check")
    end
end

-- Passive evidence: a balancer try to this peer failed (refused, reset before a response, timed out).
-- The peer is marked down at once, as HAProxy's `observe layer4 error-limit 1 on-error mark-down` does,
-- and one health check from a timer confirms it: failed, the peer stays down until `rise` good checks;
-- passed, it is up again at once. At most one such cycle per peer per interval, across workers, so a
-- peer that resets every request cannot flap faster.
function _M.passive_failure(p, err)
    if not state.is_up(p.name) then
        return
    end
    if not state.add("passive:" .. p.name, true, hc.interval_ms / 1000) then
        return
    end
    mark_down(p, "passive: " .. tostring(err))
    local ok, terr = at(0, confirm, p)
    if not ok then
        log(ERR, "meteor-do: cannot confirm a failure of ", p.name, ": ", terr)
    end
end

-- A watch per peer: one idle connection held by the probing worker. When the app process dies the
-- kernel closes it (FIN or RST) and a health check runs at once, so a crash is caught without waiting
-- for traffic or the next interval; a failed check marks the peer down at once. The app closing an
-- idle connection itself (keep-alive or header timeouts) is told apart by the check passing. The
-- connection never carries a request; reads time out every interval to notice a reload.
local function watch(premature, p)
    while not premature and not worker_exiting() do
        local sock = tcp()
        sock:settimeout(hc.timeout_ms)
        if sock:connect(p.ip, p.port) then
            sock:settimeout(hc.interval_ms)
            local _, err
            repeat
                _, err = sock:receive(1)
            until err ~= "timeout" or worker_exiting()
            sock:close()
            if err ~= "timeout" and state.is_up(p.name) then
                local ok, why = probe(p)
                if not ok then
                    mark_down(p, "its connection closed (" .. tostring(err) .. ") and a check failed: " .. why)
                end
            end
        end
        sleep(hc.interval_ms / 1000)
    end
end

-- An undrain comes after the host's own health check passed (cutover.sh, lb-peer.sh): one probe from the
-- LB right away confirms it, instead of an idle wait for `rise` rounds. Passed, the peer is up at once
-- (as after `rise` good checks); failed, nothing changes and the active checks decide as usual. The
-- probe's timeout is capped so the admin request answers within its caller's 5 s.
local UNDRAIN_PROBE_TIMEOUT_MS = 1000

function _M.confirm_undrained(p)
    if state.is_up(p.name) then
        return true
    end
    local ok, err = probe(p, min(hc.timeout_ms, UNDRAIN_PROBE_TIMEOUT_MS))
    if not ok then
        log(WARN, "meteor-do: peer ", p.name, " undrained but stays down until ", hc.rise, " good checks: ", err)
        return false
    end
    state.set("fall:" .. p.name, 0)
    state.set("rise:" .. p.name, hc.rise)
    state.set_up(p.name, true)
    log(WARN, "meteor-do: peer ", p.name, " is up at once: undrained, and it passes a health check")
    return true
end

-- Released only by its owner: a round that outlived the lock's TTL must not delete the lock of a round
-- another worker (e.g. of the next generation) has started since.
local function release_lock(token)
    if state.get(LOCK) == token then
        state.delete(LOCK)
    end
end

local function round(premature)
    if premature or running or worker_exiting() then
        return
    end
    -- The lock expires on its own if a worker dies mid-round; a round lasts at most 3 timeouts
    -- (connect, send, receive).
    local lock_ttl = (3 * hc.timeout_ms + hc.interval_ms) / 1000 + 1
    local token = worker_pid() .. ":" .. now()
    if not state.add(LOCK, token, lock_ttl) then
        return
    end
    running = true
    -- pcall: an error in one round must not leave `running` set and stop the checks for good.
    local ok, err = pcall(function()
        local threads = {}
        for i, p in ipairs(state.peers) do
            threads[i] = spawn(timed_probe, p)
        end
        for i, p in ipairs(state.peers) do
            local alive, healthy, why, ms = wait(threads[i])
            if not alive then
                healthy, why = false, "probe error: " .. tostring(healthy)
            end
            state.record_check(p.name, ms, not healthy and why or nil)
            record(p, healthy, why)
        end
    end)
    running = false
    release_lock(token)
    if not ok then
        log(ERR, "meteor-do: health check round failed: ", err)
    end
end

function _M.start()
    if worker_id() ~= 0 or #state.peers == 0 then
        return
    end
    local ok, err = every(hc.interval_ms / 1000, round)
    if not ok then
        log(ERR, "meteor-do: cannot start health checks: ", err)
        return
    end
    ok, err = at(0, round)
    if not ok then
        log(ERR, "meteor-do: cannot run the first health check round: ", err)
    end
    for _, p in ipairs(state.peers) do
        ok, err = at(0, watch, p)
        if not ok then
            log(ERR, "meteor-do: cannot watch ", p.name, ": ", err)
        end
    end
end

return _M
