-- nginx limit_req for one request over several zones, atomically.
-- KEYS[i]: state hash of zone i ("e" excess in milli-requests, "l" last ms).
-- ARGV[1]: clock in ms, or -1 to use Redis TIME.
-- ARGV[1+3i-2..1+3i]: rate (milli-requests/s), burst (milli-requests),
-- "1" if zone i is the rule's last limit (accounted during the check).
-- Returns {rejected index (0-based) or -1, excess of each checked zone...}.
-- All arithmetic is on integers below 2^53, exact in Lua numbers, except
-- rate*ms for a state never accounted (ms ~ 2^32), whose result is only
-- compared with 0.
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local never = 4294967296
local n = #KEYS
local ex = {}

-- state returns zone i's {excess, last}, or nil when absent or when nginx's
-- idle expiry would have freed it (idle for 60 s and drained).
local function state(i, rate)
  local s = redis.call('HMGET', KEYS[i], 'e', 'l')
  if not s[1] then return nil end
  local e, l = tonumber(s[1]), tonumber(s[2])
  local idle = math.abs(now - l)
  if idle >= 60000 and e - math.floor(rate * idle / 1000) <= 0 then return nil end
  return e, l
end

-- save writes a state with a TTL covering 60 s of idleness plus the time
-- its excess takes to drain: after that nginx would have freed it too.
local function save(i, rate, e, l)
  redis.call('HSET', KEYS[i], 'e', e, 'l', l)
  redis.call('PEXPIRE', KEYS[i], 61000 + math.floor(e * 1000 / rate))
end

local function decay(e, l, rate)
  local ms = now - l
  if ms < -60000 then ms = 1 elseif ms < 0 then ms = 0 end
  local x = e - math.floor(rate * ms / 1000) + 1000
  if x < 0 then x = 0 end
  return x, ms
end

for i = 1, n do
  local rate, burst, last = tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i]), ARGV[3*i+1] == '1'
  local e, l = state(i, rate)
  if e == nil then
    if last then save(i, rate, 0, now) else save(i, rate, 0, now - never) end
    ex[i] = 0
  else
    local x, ms = decay(e, l, rate)
    ex[i] = x
    if x > burst then
      return {i - 1, unpack(ex)}
    end
    if last then
      if ms ~= 0 then l = now end
      save(i, rate, x, l)
    end
  end
end
for i = n, 1, -1 do
  local rate = tonumber(ARGV[3*i-1])
  if ARGV[3*i+1] ~= '1' then
    local s = redis.call('HMGET', KEYS[i], 'e', 'l')
    local x, ms = decay(tonumber(s[1]), tonumber(s[2]), rate)
    local l = tonumber(s[2])
    if ms ~= 0 then l = now end
    save(i, rate, x, l)
    ex[i] = x
  end
end
return {-1, unpack(ex)}
