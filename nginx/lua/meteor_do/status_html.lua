-- The html format of /check-status: one page that reads on a phone (a card per host) and on a desktop
-- (a table), refreshes itself, and needs nothing from outside (inline style and script). Every link
-- is relative, so the page works through an SSH port forward as well as on the site. The script
-- fetches the same URL again and swaps <main>, so the scroll position stays; without script, a meta
-- refresh reloads the page.
local _M = { default_refresh = 5 }

local floor = math.floor
local escape_uri = ngx.escape_uri

local escapes = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
local function esc(v)
    return (tostring(v):gsub("[&<>\"']", escapes))
end

-- 45 s, 3 min 12 s, 2 h 5 min, 3 d 4 h.
local function age(seconds)
    local s = floor(seconds < 0 and 0 or seconds)
    if s < 60 then
        return s .. " s"
    elseif s < 3600 then
        return floor(s / 60) .. " min " .. s % 60 .. " s"
    elseif s < 86400 then
        return floor(s / 3600) .. " h " .. floor(s % 3600 / 60) .. " min"
    end
    return floor(s / 86400) .. " d " .. floor(s % 86400 / 3600) .. " h"
end

local function utc(t, fmt)
    return os.date(fmt or "!%Y-%m-%d %H:%M UTC", floor(t))
end

local STYLE = [[
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--fg:#1d2330;--muted:#667085;--line:#e3e6eb;
--up:#12813d;--upbg:#e3f5e9;--down:#b42318;--downbg:#fde7e5;--drain:#935f00;--drainbg:#fff1cc}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1a1f26;--fg:#e6e9ee;--muted:#98a2b3;
--line:#2c333d;--up:#4cc37a;--upbg:#15331f;--down:#ff8b7e;--downbg:#3d1a17;--drain:#ffc94d;--drainbg:#3a2e0f}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main,.bar{max-width:1180px;margin:0 auto;padding:16px}.bar{padding-bottom:0}.bar:has(#stale[hidden]){display:none}
h1{font-size:1.3rem;margin:0 0 4px}
.muted,small{color:var(--muted)}
small{display:block;font-size:.8rem}
.pills{display:flex;flex-wrap:wrap;gap:6px;margin:10px 0}
.pill,.badge{display:inline-block;border-radius:999px;padding:2px 10px;font-weight:600;font-size:.85rem;
background:var(--line)}
.up{background:var(--upbg);color:var(--up)}.down{background:var(--downbg);color:var(--down)}
.draining{background:var(--drainbg);color:var(--drain)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0 14px}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
.warn{color:var(--drain);font-weight:600}.bad{color:var(--down);font-weight:600}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:10px;
overflow:hidden}
th,td{text-align:left;padding:9px 12px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.78rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
tr:last-child td{border-bottom:0}
td.num{font-variant-numeric:tabular-nums}
code{font:.85rem ui-monospace,SFMono-Regular,Menlo,monospace}
.err{color:var(--down);font-size:.85rem;overflow-wrap:anywhere}.err.old{color:var(--muted)}
tr.s-up td:first-child{box-shadow:inset 4px 0 var(--up)}tr.s-down td:first-child{box-shadow:inset 4px 0 var(--down)}
tr.s-draining td:first-child{box-shadow:inset 4px 0 var(--drain)}
a{color:inherit}footer{margin-top:14px;font-size:.88rem}footer a{margin:0 4px}
#stale{background:var(--downbg);color:var(--down);padding:8px 12px;border-radius:8px;margin:0}
@media (max-width:720px){
thead{display:none}table,tbody,tr,td{display:block;width:100%}table{border:0;background:none}
tr{background:var(--card);border:1px solid var(--line);border-radius:10px;margin-bottom:10px;padding:4px 0}
tr.s-up{border-left:4px solid var(--up)}tr.s-down{border-left:4px solid var(--down)}
tr.s-draining{border-left:4px solid var(--drain)}tr td:first-child{box-shadow:none!important}
td{display:flex;justify-content:space-between;gap:12px;border:0;padding:5px 12px;text-align:right}
td::before{content:attr(data-label);color:var(--muted);text-align:left;font-size:.85rem;white-space:nowrap}
td.host{display:block;text-align:left;border-bottom:1px solid var(--line);padding-bottom:8px}
td.host::before{content:none}}
]]

-- Fetches this very URL again and swaps <main>; a failure shows a banner and keeps trying.
local SCRIPT = [[
(function(){
  var stale=document.getElementById('stale');
  function every(){var m=document.getElementById('status');return m?Number(m.getAttribute('data-refresh')):0}
  function tick(){
    fetch(location.href,{cache:'no-store'}).then(function(r){
      if(!r.ok)throw new Error('HTTP '+r.status);return r.text();
    }).then(function(text){
      var doc=new DOMParser().parseFromString(text,'text/html'),next=doc.getElementById('status');
      if(!next)throw new Error('no status in the answer');
      document.getElementById('status').replaceWith(next);document.title=doc.title;stale.hidden=true;
    }).catch(function(e){
      stale.textContent='Could not refresh ('+e.message+'); showing older data, trying again.';stale.hidden=false;
    }).then(function(){if(every()>0)setTimeout(tick,every()*1000)});
  }
  if(every()>0)setTimeout(tick,every()*1000);
})();
]]

-- A relative link to this page with other query arguments (so it works behind any host and port).
local function link(args)
    local q = {}
    for _, k in ipairs({ "format", "status", "refresh" }) do
        if args[k] ~= nil then
            q[#q + 1] = k .. "=" .. escape_uri(tostring(args[k]))
        end
    end
    return "?" .. table.concat(q, "&")
end

local function state_of(r)
    if r.status == "down" then
        return "down", r.draining and "down (draining)" or "down"
    end
    return r.draining and "draining" or "up", r.draining and "draining" or "up"
end

local function last_check(r, now)
    local out = {}
    if r.check_ms then
        out[1] = esc(r.check_ms) .. " ms"
        if r.check_at then
            out[1] = out[1] .. " <small>" .. age(now - r.check_at) .. " ago</small>"
        end
    else
        out[1] = '<span class="muted">none yet</span>'
    end
    if r.error then
        -- Current when it came with the latest check; older errors stay visible, greyed.
        local current = r.error_at and r.check_at and r.error_at >= r.check_at
        out[#out + 1] = '<div class="err' .. (current and "" or " old") .. '">'
            .. (current and "" or "last error, ") .. age(now - (r.error_at or now)) .. " ago: "
            .. esc(r.error) .. "</div>"
    end
    return "<span>" .. table.concat(out) .. "</span>"
end

local function row(r, now)
    local class, text = state_of(r)
    local release = r.release
            and ('<code title="' .. esc(r.release) .. '">' .. esc(r.release:sub(1, 12)) .. "</code>")
        or '<span class="muted">not reported</span>'
    return table.concat({
        '<tr class="peer s-', class, '" data-name="', esc(r.name), '">',
        '<td class="host" data-label="Host"><b>', esc(r.host or r.name), "</b><small>",
        r.host and (esc(r.name) .. " &middot; ") or "", "#", r.index, "</small></td>",
        '<td data-label="State"><span class="badge ', class, '">', text, "</span></td>",
        '<td data-label="Since">', r.since and ('<span title="' .. utc(r.since) .. '">' .. age(now - r.since)
            .. "</span>") or '<span class="muted">unknown</span>', "</td>",
        '<td data-label="Release">', release, "</td>",
        '<td data-label="Node.js">', r.node and esc(r.node) or '<span class="muted">not reported</span>', "</td>",
        '<td data-label="Last check">', last_check(r, now), "</td>",
        '<td class="num" data-label="Connections">', r.connections and r.connections or "?", "</td>",
        "</tr>",
    })
end

local function certificate(lb)
    if not lb.certificate_not_after then
        return '<span class="muted">unknown (' .. esc(lb.certificate) .. " unreadable)</span>"
    end
    local days = floor((lb.certificate_not_after - lb.now) / 86400)
    local class = days < 0 and "bad" or (days < 14 and "warn" or "")
    local function n_days(k)
        return k == 1 and "1 day" or (k .. " days")
    end
    local when = days < 0 and ("expired " .. n_days(-days) .. " ago") or ("in " .. n_days(days))
    return '<span class="' .. class .. '">expires ' .. utc(lb.certificate_not_after) .. " (" .. when .. ")</span>"
end

-- list: status.lua's rows; lb: its lb(); args: { status = filter or nil, refresh = seconds }.
function _M.render(list, lb, args)
    local now = lb.now
    local n = { up = 0, draining = 0, down = 0 }
    local body = {}
    for i, r in ipairs(list) do
        local class = state_of(r)
        n[class] = n[class] + 1
        body[i] = row(r, now)
    end
    local summary = n.up .. " up, " .. n.draining .. " draining, " .. n.down .. " down"
    local refresh = args.refresh
    local here = { status = args.status, refresh = refresh ~= _M.default_refresh and refresh or nil }
    local function with(k, v)
        local t = { status = here.status, refresh = here.refresh }
        t[k] = v
        return link(t)
    end
    local out = {
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>", summary, " &middot; meteor-do load balancer</title>",
        refresh > 0 and ('<noscript><meta http-equiv="refresh" content="' .. refresh .. '"></noscript>') or "",
        "<style>", STYLE, "</style></head><body>",
        '<div class="bar"><p id="stale" role="status" hidden></p></div>',
        '<main id="status" data-refresh="', refresh, '">',
        "<h1>meteor-do load balancer</h1>",
        '<div class="pills"><span class="pill">', #list, " hosts", args.status and (" " .. args.status) or "",
        '</span><span class="pill up">', n.up, ' up</span><span class="pill draining">', n.draining,
        ' draining</span><span class="pill down">', n.down, " down</span></div>",
        '<dl class="meta">',
        lb.name and ('<dt>Answered by</dt><dd id="lb-role"><b>' .. esc(lb.name) .. "</b> &middot; "
            .. esc(lb.role or "none") .. "</dd>") or "",
        "<dt>Certificate</dt><dd>", certificate(lb), "</dd>",
        "<dt>Config</dt><dd>generation ", lb.generation,
        lb.release and (" &middot; release <code>" .. esc(lb.release) .. "</code>") or "", "</dd>",
        '<dt>Updated</dt><dd><span id="updated">', utc(now, "!%H:%M:%S UTC"), "</span> &middot; ",
        refresh > 0 and ('refreshes every ' .. refresh .. ' s (<a href="' .. with("refresh", 0) .. '">pause</a>)')
            or ('not refreshing (<a href="' .. with("refresh", nil) .. '">resume</a>)'),
        "</dd></dl>",
        "<table><thead><tr><th>Host</th><th>State</th><th>Since</th><th>Release</th><th>Node.js</th>",
        "<th>Last check</th><th>Connections</th></tr></thead><tbody>",
        table.concat(body),
        "</tbody></table>",
        "<footer>Show: ",
        '<a href="', with("status", nil), '">all</a><a href="', with("status", "up"), '">up</a>',
        '<a href="', with("status", "down"), '">down</a> &middot; Formats:',
        '<a href="', link({ format = "json", status = args.status }), '">JSON</a>',
        '<a href="', link({ format = "csv", status = args.status }), '">CSV</a>',
        '<a href="', link({ format = "prometheus", status = args.status }), '">Prometheus</a>',
        "</footer></main>",
        "<script>", SCRIPT, "</script></body></html>\n",
    }
    return table.concat(out)
end

return _M
