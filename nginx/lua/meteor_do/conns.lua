-- Open TCP connections from this LB to each peer, counted in the kernel's socket table
-- (/proc/net/tcp of the LB's network namespace) when the status page asks: requests in flight,
-- WebSockets, idle keep-alive connections and the checker's watch connection. Nothing is counted
-- on the request path, so balancing pays nothing for it.
local _M = {}

local find = string.find
local ngx_now = ngx.now
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

-- The kernel writes the table anew on every read, a line per socket (measured on a busy 2-core machine:
-- about 10 ms per 1000 sockets), so one count serves this worker's status requests for a second:
-- several viewers and a scraper cost one read.
local cached = { at = -1 }

-- name -> established connections to it, for every peer; nil when the table cannot be read. The
-- whole table is searched with plain finds for " <remote> 01 " (remote address, state ESTABLISHED).
function _M.count(peers)
    local now = ngx_now()
    if now - cached.at < 1 then
        return cached.counts
    end
    local counts = {}
    local f = io.open("/proc/net/tcp", "r")
    if not f then
        return nil
    end
    local table_text = f:read("*a")
    f:close()
    for _, p in ipairs(peers) do
        local k = _M.key(p.ip, p.port)
        local n = 0
        if k then
            local needle = " " .. k .. " " .. ESTABLISHED .. " "
            local at = find(table_text, needle, 1, true)
            while at do
                n = n + 1
                at = find(table_text, needle, at + #needle, true)
            end
        end
        counts[p.name] = n
    end
    cached = { at = now, counts = counts }
    return counts
end

return _M
