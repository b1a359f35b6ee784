-- smolftp.lua: a Wireshark post-dissector that turns smolftp's frame comments into fields.
--
-- Install: scripts/install-wireshark.sh (copies this file into the personal Lua plugins folder),
-- or for one run: tshark -X lua_script:wireshark/smolftp.lua -r smolftp-demo.pcapng ...
--
-- THE CONTRACT (README "Frame comments", src/net/stackview/words.rs push_view, and
-- src/link/recorder.rs). A frame comment is parts joined by "; ":
--   1. the explanation (may itself contain "; "), e.g.
--      "control connection: SYN, opens the connection (active open); 10.0.0.2:49152 CLOSED -> SYN-SENT"
--   2. if one of our stacks sent the frame, the stack view, a part that starts with "cwnd=":
--      "cwnd=5840 ssthresh=inf srtt=2.0ms rttvar=1.0ms rto=1000ms inflight=2920 rwnd=65535"
--      (cwnd and ssthresh: bytes, "none" without congestion control, ssthresh "inf" before the
--      first loss; srtt and rttvar: milliseconds, "-" before the first sample; rto: ms)
--      then the part "why: <reason in words>";
--   3. if an impairment touched the frame, the part "fault: <what happened>" (to the end).
-- VIEW_KEYS below lists the view's keys in their order; tests/wireshark.rs and a unit test of
-- src/net/stackview/words.rs fail if the comments and this script drift apart.

local SEP = "; "
local VIEW_PREFIX = "cwnd="
local WHY_PREFIX = "why: "
local FAULT_PREFIX = "fault: "
-- key, field type ("bytes": an unsigned count; "ms": milliseconds), display name
local VIEW_KEYS = {
    { "cwnd", "bytes", "Congestion window (bytes)" },
    { "ssthresh", "bytes", "Slow start threshold (bytes)" },
    { "srtt", "ms", "Smoothed RTT (ms)" },
    { "rttvar", "ms", "RTT variation (ms)" },
    { "rto", "ms", "Retransmission timeout (ms)" },
    { "inflight", "bytes", "Bytes in flight" },
    { "rwnd", "bytes", "Peer's receive window (bytes)" },
}

local proto = Proto("smolftp", "smolftp stack view (from the frame comment)")
local fields = {}
for _, k in ipairs(VIEW_KEYS) do
    local key, kind, name = k[1], k[2], k[3]
    if kind == "bytes" then
        fields[key] = ProtoField.uint32("smolftp." .. key, name, base.DEC)
    else
        fields[key] = ProtoField.double("smolftp." .. key, name)
    end
end
fields.state = ProtoField.string("smolftp.state", "Sender's new TCP state")
fields.reason = ProtoField.string("smolftp.reason", "Why the stack sent it")
fields.fault = ProtoField.string("smolftp.fault", "Impairment")
fields.explanation = ProtoField.string("smolftp.explanation", "Explanation")
local list = {}
for _, f in pairs(fields) do
    list[#list + 1] = f
end
proto.fields = list

local comment_field = Field.new("frame.comment")

local function starts(s, prefix)
    return s:sub(1, #prefix) == prefix
end

local function split(s)
    local parts, from = {}, 1
    while true do
        local a, b = s:find(SEP, from, true)
        if not a then
            parts[#parts + 1] = s:sub(from)
            return parts
        end
        parts[#parts + 1] = s:sub(from, a - 1)
        from = b + 1
    end
end

--- Parses one comment: {explanation=, view={key=text}, reason=, fault=, state=}.
local function parse(comment)
    local parts = split(comment)
    local out = { view = nil }
    local i, explanation = 1, {}
    while i <= #parts and not starts(parts[i], VIEW_PREFIX) and not starts(parts[i], FAULT_PREFIX) do
        explanation[#explanation + 1] = parts[i]
        i = i + 1
    end
    out.explanation = table.concat(explanation, SEP)
    if i <= #parts and starts(parts[i], VIEW_PREFIX) then
        out.view = {}
        for key, value in parts[i]:gmatch("(%w+)=(%S+)") do
            out.view[key] = value
        end
        i = i + 1
        local why = {}
        while i <= #parts and not starts(parts[i], FAULT_PREFIX) do
            why[#why + 1] = parts[i]
            i = i + 1
        end
        local reason = table.concat(why, SEP)
        if starts(reason, WHY_PREFIX) then
            out.reason = reason:sub(#WHY_PREFIX + 1)
        end
    end
    if i <= #parts and starts(parts[i], FAULT_PREFIX) then
        local rest = {}
        for j = i, #parts do
            rest[#rest + 1] = parts[j]
        end
        out.fault = table.concat(rest, SEP):sub(#FAULT_PREFIX + 1)
    end
    -- "10.0.0.1:20 ESTABLISHED -> FIN-WAIT-1" in the explanation: the sender's new state.
    for _, part in ipairs(explanation) do
        out.state = out.state or part:match("^[%w%.:%]%[]+ [%u%d%-]+ %-> ([%u%d%-]+)$")
    end
    return out
end

local function number(kind, text)
    if text == nil then
        return nil
    end
    if kind == "ms" then
        return tonumber((text:gsub("ms$", "")))
    end
    return tonumber(text)
end

function proto.dissector(tvb, pinfo, tree)
    local c = comment_field()
    if c == nil then
        return
    end
    local comment = tostring(c.value)
    local parsed = parse(comment)
    if parsed.view == nil and parsed.fault == nil and parsed.state == nil then
        return
    end
    local sub = tree:add(proto, "smolftp: " .. (parsed.reason or parsed.fault or parsed.explanation))
    sub:add(fields.explanation, parsed.explanation)
    if parsed.state then
        sub:add(fields.state, parsed.state)
    end
    if parsed.view then
        for _, k in ipairs(VIEW_KEYS) do
            local key, kind = k[1], k[2]
            local text = parsed.view[key]
            local value = number(kind, text)
            if value ~= nil then
                sub:add(fields[key], value)
            elseif text ~= nil then
                sub:add(proto, key .. ": " .. text)
            end
        end
    end
    if parsed.reason then
        sub:add(fields.reason, parsed.reason)
    end
    if parsed.fault then
        sub:add(fields.fault, parsed.fault):add_expert_info(PI_SEQUENCE, PI_WARN, "smolftp: " .. parsed.fault)
    end
end

register_postdissector(proto)
