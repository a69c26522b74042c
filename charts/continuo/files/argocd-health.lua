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

if is("Stalled", "True") then
  return done("Degraded", message("Stalled"))
end
if is("Ready", "True") then
  if is("ObjectivesMet", "False") then
    return done("Degraded", "Objectives not met: " .. message("ObjectivesMet"))
  end
  return done("Healthy", message("Ready"))
end
return done("Progressing", message("Ready"))
