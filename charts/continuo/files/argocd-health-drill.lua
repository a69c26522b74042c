-- Argo CD health check for continuo.dev/ContinuityDrill.
-- Configure it in argocd-cm as resource.customizations.health.continuo.dev_ContinuityDrill.
local hs = {}
local status = obj.status or {}
local phase = status.phase
local message = status.message or ""
if phase == "Passed" then
  hs.status = "Healthy"
  hs.message = message
elseif phase == "Failed" or phase == "Aborted" then
  -- The promise did not hold when exercised, or the drill could not run: a person should look.
  hs.status = "Degraded"
  hs.message = phase .. ": " .. message
elseif phase == "Running" then
  hs.status = "Progressing"
  hs.message = "zone " .. (status.zone or "?") .. " taken out; measuring the recovery"
else
  hs.status = "Progressing"
  hs.message = "Waiting for continuo to start the drill"
end
return hs
