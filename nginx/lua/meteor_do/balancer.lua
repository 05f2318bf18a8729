-- Sticky balancing on a consistent-hash ring. Native ip_hash keys only the first three octets of an
-- IPv4 address (a whole office /24 lands on one host) and ignores health; here the full client address
-- (or a cookie) is hashed onto a ring of many virtual nodes per healthy, non-draining peer, so losing one
-- of N peers moves only its clients, spread over the rest, and they come back when it returns.
local balancer = require("ngx.balancer")
local checker = require("meteor_do.checker")
local config = require("meteor_do.config")
local state = require("meteor_do.state")

local ngx = ngx
local crc32 = ngx.crc32_long
local log, ERR, WARN = ngx.log, ngx.ERR, ngx.WARN
local exit = ngx.exit
local floor, sort, gmatch = math.floor, table.sort, string.gmatch
local rshift = require("bit").rshift
local VNODES = 160
-- 2^14 slices of the 32-bit hash space.
local SLICE_SHIFT = 18
local SLICES = 16384
local _M = {}

-- Per-worker cache, rebuilt when the shared state version moves.
local cache = { version = -1 }

local function build_ring(list)
    local points = {}
    for _, p in ipairs(list) do
        for v = 1, VNODES do
            points[#points + 1] = { hash = crc32(p.name .. "#" .. v), peer = p }
        end
    end
    sort(points, function(a, b)
        if a.hash == b.hash then
            return a.peer.name < b.peer.name
        end
        return a.hash < b.hash
    end)
    return points
end

-- Each slice of the hash space goes to the peer owning the slice's start on the ring, so a first pick
-- is one table index: the JIT compiles that, while a binary search's loop kept the whole balancer in
-- the interpreter (measured: about a fifth of the LB's CPU per request). Still consistent: losing a
-- peer moves only the slices it owned.
local function build_slices(points)
    local slices = {}
    local j, n = 1, #points
    if n == 0 then
        return slices
    end
    for i = 0, SLICES - 1 do
        local start = i * 2 ^ SLICE_SHIFT
        while j <= n and points[j].hash < start do
            j = j + 1
        end
        slices[i + 1] = (points[j] or points[1]).peer
    end
    return slices
end

-- Preference: healthy and not draining; else healthy (all draining); else every peer (fail open).
local function ring()
    local version = state.version()
    if cache.version == version then
        return cache.ring, cache.mode
    end
    local healthy, up = {}, {}
    for _, p in ipairs(state.peers) do
        if state.is_up(p.name) then
            up[#up + 1] = p
            if not state.is_draining(p.name) then
                healthy[#healthy + 1] = p
            end
        end
    end
    local list, mode = healthy, "healthy"
    if #list == 0 then
        list, mode = up, "draining"
    end
    if #list == 0 then
        list, mode = state.peers, "all-down"
    end
    local points = build_ring(list)
    cache = { version = version, ring = points, slices = build_slices(points), mode = mode, size = #list }
    return cache.ring, mode
end

-- First point at or after the hash (wrapping), by binary search.
local function first_point(points, h)
    local lo, hi = 1, #points
    if h > points[hi].hash then
        return 1
    end
    while lo < hi do
        local mid = floor((lo + hi) / 2)
        if points[mid].hash < h then
            lo = mid + 1
        else
            hi = mid
        end
    end
    return lo
end

-- The peer for this key, skipping already tried ones: retries walk on around the ring.
local function pick(points, h, tried)
    local n = #points
    local start = first_point(points, h)
    for i = 0, n - 1 do
        local p = points[(start + i - 1) % n + 1].peer
        if not tried[p.name] then
            return p
        end
    end
    return nil
end

-- Key: the sticky cookie (rewrite phase sets one when absent) or the client address after real-IP.
local function client_key()
    if config.stickiness == "cookie" then
        return ngx.ctx.meteor_do_sticky or ngx.var["cookie_" .. config.cookie_name] or ngx.var.remote_addr
    end
    return ngx.var.remote_addr
end

-- The peer the failed try went to: the last address in $upstream_addr ("a, b : " while a new try is
-- being set up). Recomputing it from the ring would be wrong once a failure changed the ring.
local function failed_peer()
    local name
    for a in gmatch(ngx.var.upstream_addr or "", "[^%s,:]+:%d+") do
        name = a
    end
    return name and state.find(name)
end

-- Any peer not tried yet, for when the ring shrank under a retry.
local function untried(tried)
    for _, p in ipairs(state.peers) do
        if not tried[p.name] then
            return p
        end
    end
    return nil
end

-- First try: no ngx.ctx (its metamethods cost throughput); retries, rare, keep the tried peers there.
function _M.balance()
    local points, mode = ring()
    if #points == 0 then
        log(ERR, "meteor-do: no peers configured")
        return exit(502)
    end
    local h = crc32(client_key())
    local failed, code = balancer.get_last_failure()
    local p
    if not failed then
        if mode ~= "healthy" then
            log(WARN, "meteor-do: no healthy undrained peer (", mode, "); trying anyway")
        end
        -- One more try per other peer on the ring: a connect failure goes at once to the next one.
        if cache.size > 1 then
            balancer.set_more_tries(cache.size - 1)
        end
        p = cache.slices[rshift(h, SLICE_SHIFT) + 1]
    else
        local ctx = ngx.ctx
        local tried = ctx.meteor_do_tried
        if not tried then
            tried = {}
            ctx.meteor_do_tried = tried
        end
        local last = failed_peer()
        if last then
            tried[last.name] = true
            log(WARN, "meteor-do: ", last.name, " ", tostring(failed), " ", tostring(code), "; retrying the next peer")
            if failed == "failed" then
                checker.passive_failure(last, failed)
            end
        end
        p = pick(points, h, tried) or untried(tried)
        if not p then
            return exit(502)
        end
        tried[p.name] = true
    end
    local ok, err = balancer.set_current_peer(p.ip, p.port)
    if not ok then
        log(ERR, "meteor-do: set_current_peer ", p.name, ": ", err)
        return exit(500)
    end
end

-- rewrite phase: give a new client its affinity cookie (only when stickiness=cookie).
function _M.rewrite()
    if config.stickiness ~= "cookie" then
        return
    end
    if ngx.var["cookie_" .. config.cookie_name] then
        return
    end
    local id = ngx.var.request_id
    ngx.ctx.meteor_do_sticky = id
    ngx.ctx.meteor_do_set_cookie = config.cookie_name .. "=" .. id .. "; Path=/; HttpOnly; Secure; SameSite=Lax"
end

-- header filter: append our cookie to whatever Set-Cookie the app sends.
function _M.header_filter()
    local c = ngx.ctx.meteor_do_set_cookie
    if not c then
        return
    end
    local existing = ngx.header["Set-Cookie"]
    if existing == nil then
        ngx.header["Set-Cookie"] = c
    elseif type(existing) == "table" then
        existing[#existing + 1] = c
        ngx.header["Set-Cookie"] = existing
    else
        ngx.header["Set-Cookie"] = { existing, c }
    end
end

return _M
