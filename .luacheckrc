-- luacheck for the load balancer's Lua (nginx/lua), run by `npm run lint`.
-- OpenResty's globals (ngx, ndk); the project's 120 columns; config.lua is rendered by nginx/render.ts.
std = "ngx_lua"
max_line_length = 120
include_files = { "nginx/lua/**/*.lua" }
