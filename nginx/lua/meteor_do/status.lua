-- /check-status in the formats of nginx_upstream_check_module's check_status (html, json, csv) plus
-- Prometheus text, with ?format= and ?status=up|down filters, so existing dashboards keep working.
local cjson = require("cjson.safe")
local config = require("meteor_do.config")
local state = require("meteor_do.state")

local _M = {}

local function rows(filter)
    local out = {}
    for _, p in ipairs(state.peers) do
        local up = state.is_up(p.name)
        local status = up and "up" or "down"
        if filter == nil or filter == status then
            local rise, fall = state.counters(p.name)
            out[#out + 1] = {
                index = p.index, upstream = state.upstream, name = p.name, status = status,
                rise = rise, fall = fall, type = config.health_check.type, port = 0,
                draining = state.is_draining(p.name),
            }
        end
    end
    return out
end

local function json(list, generation)
    local servers = {}
    for i, r in ipairs(list) do
        servers[i] = { index = r.index, upstream = r.upstream, name = r.name, status = r.status,
            rise = r.rise, fall = r.fall, type = r.type, port = r.port }
    end
    return cjson.encode({ servers = { total = #list, generation = generation,
        server = setmetatable(servers, cjson.array_mt) } })
end

local function csv(list)
    local lines = {}
    for i, r in ipairs(list) do
        lines[i] = table.concat({ r.index, r.upstream, r.name, r.status, r.rise, r.fall, r.type, r.port }, ",")
    end
    return table.concat(lines, "\n") .. (#lines > 0 and "\n" or "")
end

local function prometheus(list, generation)
    local out = {
        "# HELP meteor_do_lb_peer_up 1 when the active health check considers the peer up.",
        "# TYPE meteor_do_lb_peer_up gauge",
    }
    local function labels(r)
        return '{upstream="' .. r.upstream .. '",name="' .. r.name .. '",type="' .. r.type .. '"}'
    end
    for _, r in ipairs(list) do
        out[#out + 1] = "meteor_do_lb_peer_up" .. labels(r) .. " " .. (r.status == "up" and 1 or 0)
    end
    out[#out + 1] = "# HELP meteor_do_lb_peer_draining 1 while the peer takes no new clients."
    out[#out + 1] = "# TYPE meteor_do_lb_peer_draining gauge"
    for _, r in ipairs(list) do
        out[#out + 1] = "meteor_do_lb_peer_draining" .. labels(r) .. " " .. (r.draining and 1 or 0)
    end
    out[#out + 1] = "# HELP meteor_do_lb_peer_check_successes Consecutive successful checks (rise counter)."
    out[#out + 1] = "# TYPE meteor_do_lb_peer_check_successes gauge"
    for _, r in ipairs(list) do
        out[#out + 1] = "meteor_do_lb_peer_check_successes" .. labels(r) .. " " .. r.rise
    end
    out[#out + 1] = "# HELP meteor_do_lb_peer_check_failures Consecutive failed checks (fall counter)."
    out[#out + 1] = "# TYPE meteor_do_lb_peer_check_failures gauge"
    for _, r in ipairs(list) do
        out[#out + 1] = "meteor_do_lb_peer_check_failures" .. labels(r) .. " " .. r.fall
    end
    out[#out + 1] = "# HELP meteor_do_lb_config_generation Config loads since nginx started (reloads + 1)."
    out[#out + 1] = "# TYPE meteor_do_lb_config_generation counter"
    out[#out + 1] = "meteor_do_lb_config_generation " .. generation
    return table.concat(out, "\n") .. "\n"
end

local function html(list, generation)
    local out = {
        "<!DOCTYPE html>",
        "<html><head><meta charset=\"utf-8\"><title>meteor-do upstream check status</title>",
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;border:1px solid #ccc}",
        ".down{background:#f88}.draining{background:#ff8}</style></head><body>",
        "<h1>meteor-do upstream check status</h1>",
        "<p>Check upstream server number: " .. #list .. ", generation: " .. generation .. "</p>",
        "<table><tr><th>Index</th><th>Upstream</th><th>Name</th><th>Status</th><th>Draining</th>",
        "<th>Rise counts</th><th>Fall counts</th><th>Check type</th><th>Check port</th></tr>",
    }
    for _, r in ipairs(list) do
        local class = r.status == "down" and "down" or (r.draining and "draining" or "")
        out[#out + 1] = string.format(
            "<tr class=\"%s\"><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td>%s</td><td>%d</td></tr>",
            class, r.index, r.upstream, r.name, r.status, tostring(r.draining), r.rise, r.fall, r.type, r.port)
    end
    out[#out + 1] = "</table></body></html>"
    return table.concat(out, "\n") .. "\n"
end

local formats = {
    html = { "text/html; charset=utf-8", html },
    json = { "application/json", json },
    csv = { "text/csv", csv },
    prometheus = { "text/plain; version=0.0.4", prometheus },
}

function _M.handle()
    local args = ngx.req.get_uri_args()
    local format = args.format or "html"
    local filter = args.status
    local f = formats[format]
    if type(format) ~= "string" or not f then
        ngx.status = 400
        ngx.say("unknown format; use html, json, csv or prometheus")
        return ngx.exit(400)
    end
    if filter ~= nil and filter ~= "up" and filter ~= "down" then
        ngx.status = 400
        ngx.say("unknown status filter; use up or down")
        return ngx.exit(400)
    end
    ngx.header["Content-Type"] = f[1]
    ngx.header["Cache-Control"] = "no-store"
    ngx.print(f[2](rows(filter), state.generation()))
end

return _M
