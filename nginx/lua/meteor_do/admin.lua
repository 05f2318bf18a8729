-- Admin API on the LB admin port for the rolling deploy (contract: GET /lb/peers[/<ip:port>],
-- POST /lb/peers/<ip:port>/drain|undrain[?release=<sha256>&node=<version>]: a host in its cutover
-- also says which release it runs with which Node.js, for the status page). An undrain probes the
-- peer once right away: passed, it is up without waiting `rise` rounds (checker.confirm_undrained).
-- The LB itself (exactly 127.0.0.1 or ::1) may manage any peer;
-- any other caller (an app host in the VPC) only the peer whose IP is its own address, so a host can
-- drain itself during its cutover and nothing else. Other 127.x sources count as "other" on purpose:
-- that keeps the rule testable on loopback.
local cjson = require("cjson.safe")
local checker = require("meteor_do.checker")
local config = require("meteor_do.config")
local state = require("meteor_do.state")

local ngx = ngx
local say, exit, log, WARN = ngx.say, ngx.exit, ngx.log, ngx.WARN
local get_method, get_uri_args = ngx.req.get_method, ngx.req.get_uri_args

local _M = {}

local function reply(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Cache-Control"] = "no-store"
    say(cjson.encode(body))
    return exit(status)
end

local function is_self(addr)
    return config.admin_self[addr] == true
end

local function peer_ip(name)
    -- "10.0.0.5:3000" or "[fd00::5]:3000"
    return name:match("^%[(.+)%]:%d+$") or name:match("^(.+):%d+$")
end

-- ?release= and ?node= of a drain/undrain: a release id (hex) and a Node.js version (v22.12.0).
local function reported(args)
    local release, node = args.release, args.node
    if release ~= nil
        and (type(release) ~= "string" or not release:match("^%x+$") or #release < 7 or #release > 64) then
        return nil, nil, "release must be a release id (7 to 64 hex digits)"
    end
    if node ~= nil then
        node = type(node) == "string" and node:match("^v?(%d+%.%d+%.%d+)$")
        if not node then
            return nil, nil, "node must be a Node.js version such as v22.12.0"
        end
        node = "v" .. node
    end
    return release and release:lower(), node
end

function _M.handle()
    local method = get_method()
    local uri = ngx.var.uri
    local addr = ngx.var.realip_remote_addr

    -- Which tree this nginx runs (lb-push.sh checks it after a reload) and its config generation.
    if uri == "/lb/config" then
        return reply(200, {
            release = state.release or cjson.null,
            generation = state.generation(),
            peers = #state.peers,
        })
    end

    if uri == "/lb/peers" or uri == "/lb/peers/" then
        if method ~= "GET" then
            return reply(405, { error = "method not allowed" })
        end
        local list = {}
        for i, p in ipairs(state.peers) do
            list[i] = state.describe(p)
        end
        return reply(200, { peers = setmetatable(list, cjson.array_mt) })
    end

    local name, action = uri:match("^/lb/peers/([^/]+)/?(%a*)$")
    if not name then
        return reply(404, { error = "not found" })
    end
    local p = state.find(name)
    if not p then
        return reply(404, { error = "unknown peer", name = name })
    end
    if action == "" then
        if method ~= "GET" then
            return reply(405, { error = "method not allowed" })
        end
        return reply(200, state.describe(p))
    end
    if action ~= "drain" and action ~= "undrain" then
        return reply(404, { error = "not found" })
    end
    if method ~= "POST" then
        return reply(405, { error = "method not allowed" })
    end
    if not is_self(addr) and peer_ip(p.name) ~= addr then
        return reply(403, { error = "a caller may only manage its own peer", caller = addr })
    end
    local release, node, bad = reported(get_uri_args())
    if bad then
        return reply(400, { error = bad })
    end
    state.set_release(p.name, release, node)
    if not state.set_draining(p.name, action == "drain") then
        return reply(500, { error = "could not record the change (see the error log)", name = p.name })
    end
    log(WARN, "meteor-do: peer ", p.name, " ", action, "ed by ", addr)
    if action == "undrain" then
        checker.confirm_undrained(p)
    end
    return reply(200, state.describe(p))
end

return _M
