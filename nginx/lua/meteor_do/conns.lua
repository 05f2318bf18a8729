-- Open TCP connections from this LB to each peer, counted in the kernel's socket table
-- (/proc/net/tcp of the LB's network namespace) when the status page asks: requests in flight,
-- WebSockets, idle keep-alive connections and the checker's watch connection. Nothing is counted
-- on the request path, so balancing pays nothing for it.
local _M = {}

local ESTABLISHED = "01"

-- "a.b.c.d:port" as /proc/net/tcp prints it: the address as a little-endian 32-bit word (x86_64, as
-- the LB droplets are), both in upper-case hex.
function _M.key(ip, port)
    local a, b, c, d = ip:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if not a then
        return nil
    end
    return string.format("%02X%02X%02X%02X:%04X", tonumber(d), tonumber(c), tonumber(b), tonumber(a), port)
end

-- name -> established connections to it, for every peer; nil when the table cannot be read.
function _M.count(peers)
    local want, counts = {}, {}
    for _, p in ipairs(peers) do
        local k = _M.key(p.ip, p.port)
        if k then
            want[k] = p.name
        end
        counts[p.name] = 0
    end
    local f = io.open("/proc/net/tcp", "r")
    if not f then
        return nil
    end
    for line in f:lines() do
        local remote, st = line:match("^%s*%d+: %x+:%x+ (%x+:%x+) (%x%x)")
        local name = remote and want[remote]
        if name and st == ESTABLISHED then
            counts[name] = counts[name] + 1
        end
    end
    f:close()
    return counts
end

return _M
