-- /check-status in the formats of nginx_upstream_check_module's check_status (html, json, csv) plus
-- Prometheus text, with ?format= and ?status=up|down filters, so existing dashboards keep working.
-- json and prometheus add what an operator asks next: the droplet's name, the release and Node.js
-- version it reported, the last check's latency and error, since when it is in its state, open
-- connections, drain state, and when the certificate expires. The html page is status_html.lua.
local cjson = require("cjson.safe")
local certinfo = require("meteor_do.certinfo")
local config = require("meteor_do.config")
local conns = require("meteor_do.conns")
local page = require("meteor_do.status_html")
local state = require("meteor_do.state")

local ngx = ngx
local ngx_now = ngx.now
local log, WARN = ngx.log, ngx.WARN
local say, write, exit = ngx.say, ngx.print, ngx.exit
local get_uri_args = ngx.req.get_uri_args
local null = cjson.null
local _M = {}

-- Read when the config loads (init_by_lua, before workers fork), as nginx loads the certificate.
local cert_not_after, cert_error = certinfo.read(config.certificate)
if not cert_not_after then
    log(WARN, "meteor-do: cannot read the expiry of ", config.certificate, ": ", cert_error)
end

local function rows(filter)
    local out = {}
    local open = conns.count(state.peers) or {}
    for _, p in ipairs(state.peers) do
        local up = state.is_up(p.name)
        local status = up and "up" or "down"
        if filter == nil or filter == status then
            local rise, fall = state.counters(p.name)
            local d = state.details(p.name)
            d.index, d.upstream, d.name, d.host, d.status = p.index, state.upstream, p.name, p.host, status
            d.rise, d.fall, d.type, d.port = rise, fall, config.health_check.type, 0
            d.draining = state.is_draining(p.name)
            d.connections = open[p.name]
            out[#out + 1] = d
        end
    end
    return out
end

-- lbCount 2: the role keepalived last gave this LB (one short line; "none" before its first transition).
local function role()
    if not config.role_file then
        return nil
    end
    local f = io.open(config.role_file, "r")
    if not f then
        return "none"
    end
    local r = f:read("*l")
    f:close()
    return (r and r:match("^(%l+)%s*$")) or "unknown"
end

-- The load balancer itself: its name and role (two LBs), config release and generation, certificate, clock.
local function lb(generation)
    return {
        name = config.lb_name,
        role = role(),
        now = ngx_now(),
        release = state.release,
        generation = generation,
        certificate = config.certificate,
        certificate_not_after = cert_not_after,
    }
end

local function json(list, generation)
    local servers = {}
    for i, r in ipairs(list) do
        servers[i] = {
            -- The check module's fields, as it names them.
            index = r.index, upstream = r.upstream, name = r.name, status = r.status,
            rise = r.rise, fall = r.fall, type = r.type, port = r.port,
            -- Ours; times are epoch seconds, null when not known yet.
            host = r.host or null, draining = r.draining, release = r.release or null, node = r.node or null,
            since = r.since or null, check_ms = r.check_ms or null, checked_at = r.check_at or null,
            last_error = r.error or null, last_error_at = r.error_at or null,
            connections = r.connections or null,
        }
    end
    local l = lb(generation)
    return cjson.encode({
        servers = { total = #list, generation = generation, server = setmetatable(servers, cjson.array_mt) },
        lb = {
            -- lbCount 2 only (absent with one LB, as before).
            name = l.name, role = l.role,
            time = l.now, release = l.release or null, generation = generation,
            certificate = { path = l.certificate, not_after = l.certificate_not_after or null,
                days_left = l.certificate_not_after and math.floor((l.certificate_not_after - l.now) / 86400)
                    or null },
        },
    })
end

local function csv(list)
    local lines = {}
    for i, r in ipairs(list) do
        lines[i] = table.concat({ r.index, r.upstream, r.name, r.status, r.rise, r.fall, r.type, r.port }, ",")
    end
    return table.concat(lines, "\n") .. (#lines > 0 and "\n" or "")
end

-- Label values may hold anything a host reported: escape as the exposition format says.
local function label(v)
    return (tostring(v):gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

local function prometheus(list, generation)
    local out = {}
    local function labels(r)
        return '{upstream="' .. r.upstream .. '",name="' .. r.name .. '",type="' .. r.type .. '"}'
    end
    local function metric(name, kind, help, value_of)
        out[#out + 1] = "# HELP " .. name .. " " .. help
        out[#out + 1] = "# TYPE " .. name .. " " .. kind
        for _, r in ipairs(list) do
            local v = value_of(r)
            if v ~= nil then
                out[#out + 1] = name .. labels(r) .. " " .. v
            end
        end
    end
    metric("meteor_do_lb_peer_up", "gauge", "1 when the active health check considers the peer up.",
        function(r) return r.status == "up" and 1 or 0 end)
    metric("meteor_do_lb_peer_draining", "gauge", "1 while the peer takes no new clients.",
        function(r) return r.draining and 1 or 0 end)
    metric("meteor_do_lb_peer_check_successes", "gauge", "Consecutive successful checks (rise counter).",
        function(r) return r.rise end)
    metric("meteor_do_lb_peer_check_failures", "gauge", "Consecutive failed checks (fall counter).",
        function(r) return r.fall end)
    metric("meteor_do_lb_peer_check_duration_seconds", "gauge", "How long the last active check took.",
        function(r) return r.check_ms and r.check_ms / 1000 end)
    metric("meteor_do_lb_peer_state_since_timestamp_seconds", "gauge",
        "When the peer last changed state (up, down, draining).", function(r) return r.since end)
    metric("meteor_do_lb_peer_connections", "gauge", "Open TCP connections from the LB to the peer.",
        function(r) return r.connections end)
    out[#out + 1] = "# HELP meteor_do_lb_peer_info The droplet, release and Node.js version the peer reported."
    out[#out + 1] = "# TYPE meteor_do_lb_peer_info gauge"
    for _, r in ipairs(list) do
        out[#out + 1] = 'meteor_do_lb_peer_info{upstream="' .. r.upstream .. '",name="' .. r.name .. '",host="'
            .. label(r.host or "") .. '",release="' .. label(r.release or "") .. '",node="'
            .. label(r.node or "") .. '"} 1'
    end
    out[#out + 1] = "# HELP meteor_do_lb_config_generation Config loads since nginx started (reloads + 1)."
    out[#out + 1] = "# TYPE meteor_do_lb_config_generation counter"
    out[#out + 1] = "meteor_do_lb_config_generation " .. generation
    if cert_not_after then
        out[#out + 1] = "# HELP meteor_do_lb_certificate_expiry_timestamp_seconds notAfter of the served certificate."
        out[#out + 1] = "# TYPE meteor_do_lb_certificate_expiry_timestamp_seconds gauge"
        out[#out + 1] = "meteor_do_lb_certificate_expiry_timestamp_seconds " .. cert_not_after
    end
    return table.concat(out, "\n") .. "\n"
end

local function html(list, generation, args)
    return page.render(list, lb(generation), args)
end

local formats = {
    html = { "text/html; charset=utf-8", html },
    json = { "application/json", json },
    csv = { "text/csv", csv },
    prometheus = { "text/plain; version=0.0.4", prometheus },
}

local function bad(message)
    ngx.status = 400
    say(message)
    return exit(400)
end

function _M.handle()
    local args = get_uri_args()
    local format = args.format or "html"
    local filter = args.status
    local f = formats[format]
    if type(format) ~= "string" or not f then
        return bad("unknown format; use html, json, csv or prometheus")
    end
    if filter ~= nil and filter ~= "up" and filter ~= "down" then
        return bad("unknown status filter; use up or down")
    end
    local refresh = page.default_refresh
    if args.refresh ~= nil then
        refresh = tonumber(args.refresh)
        if type(args.refresh) ~= "string" or not refresh or refresh ~= math.floor(refresh) or refresh < 0
            or refresh > 3600 then
            return bad("refresh must be whole seconds from 0 (off) to 3600")
        end
    end
    ngx.header["Content-Type"] = f[1]
    ngx.header["Cache-Control"] = "no-store"
    write(f[2](rows(filter), state.generation(), { status = filter, refresh = refresh }))
end

return _M
