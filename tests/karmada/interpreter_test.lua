-- Runs the Lua of continuo's ResourceInterpreterCustomization for ResilientService against member states and
-- checks what Karmada would see. lua5.4 tests/karmada/interpreter_test.lua charts/continuo/files/karmada
local dir = arg[1] or "charts/continuo/files/karmada"
for _, f in ipairs({ "health", "reflect", "aggregate", "dependencies" }) do
  assert(loadfile(dir .. "/" .. f .. ".lua"))()
end

local failures = 0
local function check(name, ok, detail)
  if ok then
    print("ok   " .. name)
  else
    failures = failures + 1
    print("FAIL " .. name .. ": " .. tostring(detail))
  end
end

local function cond(type, status, message, at)
  return { type = type, status = status, reason = "R", message = message or "", lastTransitionTime = at or "2026-12-01T10:00:00Z" }
end
local function member(generation, observed, conditions, extra)
  local status = { observedGeneration = observed, replicas = 4, readyReplicas = 3, zoneSummary = "a=2/2 b=1/2",
                   conditions = conditions, incidents = { { scope = "Zone" } } }
  for k, v in pairs(extra or {}) do status[k] = v end
  return { metadata = { name = "ict-portal", generation = generation }, status = status }
end

-- Health
check("healthy when Ready for the current generation", InterpretHealth(member(2, 2, { cond("Ready", "True") })))
check("not healthy while the generation is not judged yet", not InterpretHealth(member(3, 2, { cond("Ready", "True") })))
check("not healthy when not Ready", not InterpretHealth(member(1, 1, { cond("Ready", "False") })))
check("not healthy without status", not InterpretHealth({ metadata = { generation = 1 } }))

-- Reflection keeps the figures and verdicts, not the history
local reflected = ReflectStatus(member(1, 1, { cond("Ready", "True") }, { backup = { newestCopy = "2026-12-01T02:00:00Z", points = 7, tiers = {} } }))
check("reflects replicas and conditions", reflected.readyReplicas == 3 and reflected.conditions[1].type == "Ready")
check("reflects the newest copy only", reflected.backup.newestCopy == "2026-12-01T02:00:00Z" and reflected.backup.tiers == nil)
check("leaves the incidents in the member", reflected.incidents == nil)
check("an empty status reflects as empty", next(ReflectStatus({ metadata = {} })) == nil)
local arrived = member(1, 1, { cond("Ready", "True") })
arrived.status.recoveries = { { zone = "a", fromZone = "b" }, { zone = "a", fromZone = "milan", fromSite = "milan", dataLossSeconds = 10800 } }
local kept = ReflectStatus(arrived).recoveries
check("reflects a site arrival's recovery only", #kept == 1 and kept[1].fromSite == "milan" and kept[1].dataLossSeconds == 10800)
check("no arrival, no recoveries", ReflectStatus(member(1, 1, {})).recoveries == nil)
local handing = member(1, 1, { cond("Ready", "False") })
handing.status.handover = { to = "milan", declaredAt = "2026-12-01T10:00:00Z", phase = "CopyMade", copyId = "ab12", capturedAt = "2026-12-01T10:02:00Z" }
local handed = ReflectStatus(handing).handover
check("reflects a handover's last copy", handed.phase == "CopyMade" and handed.copyId == "ab12" and handed.to == "milan")
check("no handover, none reflected", ReflectStatus(member(1, 1, {})).handover == nil)

-- Aggregation
local desired = { spec = {}, status = { site = { serving = "turin", reason = "Declared" } } }
local items = {
  { clusterName = "milan-1", status = ReflectStatus(member(1, 1, { cond("Ready", "False", "", "2026-12-01T09:00:00Z"), cond("ObjectivesMet", "True") })) },
  { clusterName = "turin-1", status = ReflectStatus(member(1, 1, { cond("Ready", "True", "", "2026-12-01T11:00:00Z"), cond("ObjectivesMet", "False", "Zone: RTO 15m not feasible") },
      { backup = { newestCopy = "2026-12-01T02:00:00Z", points = 3 } })) },
}
local out = AggregateStatus(desired, items).status
check("keeps continuo's status.site", out.site.serving == "turin")
check("sums replicas", out.replicas == 8 and out.readyReplicas == 6, out.replicas)
check("Ready names the site that is", out.conditions[1].status == "True" and out.conditions[1].message == "Ready at turin-1", out.conditions[1].message)
check("Ready's transition is the newest member's", out.conditions[1].lastTransitionTime == "2026-12-01T11:00:00Z")
check("ObjectivesMet is the worst member's, named", out.conditions[2].status == "False" and out.conditions[2].message:find("turin%-1") ~= nil)
check("the zone summary names each cluster", out.zoneSummary == "milan-1: a=2/2 b=1/2; turin-1: a=2/2 b=1/2", out.zoneSummary)
check("the newest copy any member reports", out.backup.newestCopy == "2026-12-01T02:00:00Z")
check("no site arrival, no recoveries", out.recoveries == nil)
local withArrival = AggregateStatus({ spec = {} }, { { clusterName = "turin-1", status = ReflectStatus(arrived) } }).status
check("a member's site arrival is kept for the report", #withArrival.recoveries == 1 and withArrival.recoveries[1].fromSite == "milan")
local none = AggregateStatus({ spec = {}, status = { conditions = { cond("Ready", "False", "", "2026-11-30T00:00:00Z") } } }, {}).status
check("no member: not Ready, the transition kept", none.conditions[1].status == "False" and none.conditions[1].lastTransitionTime == "2026-11-30T00:00:00Z")
local first = AggregateStatus({ spec = {} }, {}).status
check("every condition has a transition time (the API requires one)", first.conditions[1].lastTransitionTime ~= nil)

-- Dependencies
local deps = GetDependencies({ spec = { className = "dr-site", backup = { location = "turin-vault" } } })
check("the class and the location go along", #deps == 2 and deps[1].kind == "ContinuityClass" and deps[2].name == "turin-vault")
check("no backup: the class only", #GetDependencies({ spec = { className = "standard" } }) == 1)

if failures > 0 then
  print(failures .. " failed")
  os.exit(1)
end
print("all passed")
