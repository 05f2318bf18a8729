-- When the certificate nginx serves expires: notAfter of the first certificate in a PEM file, read
-- from its DER here because Debian's Lua packages have no X.509 binding. status.lua reads the file
-- when the config loads (init_by_lua, as root: certbot's live directory is not readable by workers),
-- which is also when nginx loads it, so the page shows the certificate nginx really serves.
local _M = {}

local decode_base64 = ngx.decode_base64

-- The element at i: its tag, and where its content starts and ends (inclusive); nil when truncated.
local function element(der, i)
    local tag, b = der:byte(i, i + 1)
    if not b then
        return nil
    end
    local len, start = b, i + 2
    if b >= 0x80 then
        local n = b - 0x80
        if n < 1 or n > 4 or i + 1 + n > #der then
            return nil
        end
        len = 0
        for k = 1, n do
            len = len * 256 + der:byte(i + 1 + k)
        end
        start = i + 2 + n
    end
    if start + len - 1 > #der then
        return nil
    end
    return tag, start, start + len - 1
end

-- Where the element after the one at i starts; nil when truncated.
local function after(der, i)
    local tag, _, last = element(der, i)
    return tag and last + 1
end

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil): no time zone
-- is involved, unlike os.time.
local function days_from_civil(y, m, d)
    if m <= 2 then
        y = y - 1
    end
    local era = math.floor(y / 400)
    local yoe = y - era * 400
    local doy = math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
    local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
    return era * 146097 + doe - 719468
end

-- UTCTime (YYMMDDHHMMSSZ, RFC 5280: 50-99 are 19xx) or GeneralizedTime (YYYYMMDDHHMMSSZ) -> epoch.
local function parse_time(tag, s)
    local y, rest
    if tag == 0x17 then
        y = tonumber(s:sub(1, 2))
        y = y and (y < 50 and 2000 + y or 1900 + y)
        rest = s:sub(3)
    elseif tag == 0x18 then
        y = tonumber(s:sub(1, 4))
        rest = s:sub(5)
    end
    local mo, d, h, mi, sec = (rest or ""):match("^(%d%d)(%d%d)(%d%d)(%d%d)(%d%d)Z$")
    if not (y and mo) then
        return nil
    end
    return days_from_civil(y, tonumber(mo), tonumber(d)) * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60
        + tonumber(sec)
end

-- Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
-- signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... } (RFC 5280 4.1).
function _M.not_after(der)
    local tag, i = element(der, 1)
    if tag ~= 0x30 then
        return nil, "not a DER certificate"
    end
    tag, i = element(der, i)
    if tag ~= 0x30 then
        return nil, "no tbsCertificate"
    end
    if der:byte(i) == 0xA0 then
        i = after(der, i)
    end
    -- serialNumber, signature, issuer
    for _ = 1, 3 do
        i = i and after(der, i)
    end
    local vtag, vstart
    if i then
        vtag, vstart = element(der, i)
    end
    if vtag ~= 0x30 then
        return nil, "no validity"
    end
    local na = after(der, vstart)
    if not na then
        return nil, "no notBefore"
    end
    local first, last
    tag, first, last = element(der, na)
    local t = tag and parse_time(tag, der:sub(first, last))
    if not t then
        return nil, "unreadable notAfter"
    end
    return t
end

-- notAfter (epoch seconds) of the first certificate in the PEM file at `path`, or nil and why.
function _M.read(path)
    local f, err = io.open(path, "r")
    if not f then
        return nil, err
    end
    local pem = f:read("*a")
    f:close()
    local b64 = pem:match("%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-(.-)%-%-%-%-%-END CERTIFICATE%-%-%-%-%-")
    local der = b64 and decode_base64((b64:gsub("%s", "")))
    if not der then
        return nil, "no PEM certificate in " .. path
    end
    return _M.not_after(der)
end

return _M
