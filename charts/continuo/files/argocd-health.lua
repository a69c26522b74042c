-- Argo CD health check for continuo.dev/ResilientService.
-- Configure it in argocd-cm as resource.customizations.health.continuo.dev_ResilientService.
local hs = {}
local function done(status, message)
  hs.status = status
  hs.message = message
  return hs
end

if obj.status == nil or obj.status.conditions == nil then
  return done("Progressing", "Waiting for continuo to observe the service")
end
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < generation) then
  return done("Progressing", "Waiting for continuo to observe generation " .. generation)
end

local conditions = {}
for _, c in ipairs(obj.status.conditions) do
  conditions[c.type] = c
end
local function is(type, status)
  return conditions[type] ~= nil and conditions[type].status == status
end
local function message(type)
  return conditions[type] and conditions[type].message or ""
end

-- Stalled covers a spec continuo cannot act on and a zone-by-zone rollout stopped at a zone (RolloutStalled).
if is("Stalled", "True") then
  return done("Degraded", message("Stalled"))
end
-- Zone loss detection set aside (every zone's leases silent, or continuo's lease watch stale): failover would wait.
if is("FailureDetection", "False") then
  return done("Degraded", "Failure detection suspended: " .. message("FailureDetection"))
end
if is("Ready", "True") then
  if is("ObjectivesMet", "False") then
    return done("Degraded", "Objectives not met: " .. message("ObjectivesMet"))
  end
  -- A template change rolling zone by zone: Ready throughout, but not done.
  if is("Reconciling", "True") then
    return done("Progressing", message("Reconciling"))
  end
  return done("Healthy", message("Ready"))
end
return done("Progressing", message("Ready"))
