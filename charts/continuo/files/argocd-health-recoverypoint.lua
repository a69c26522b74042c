-- Argo CD health check for continuo.dev/RecoveryPoint.
-- Configure it in argocd-cm as resource.customizations.health.continuo.dev_RecoveryPoint.
local hs = {}
local phase = obj.status and obj.status.phase
local message = (obj.status and obj.status.message) or ""
if phase == "Available" then
  hs.status = "Healthy"
  hs.message = "copy " .. ((obj.status and obj.status.id) or "") .. " available"
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = message
elseif phase == "Deleting" and string.find(message, "failed", 1, true) then
  -- Retention expired it, but the agent could not delete the copy: a person should look.
  hs.status = "Degraded"
  hs.message = message
else
  hs.status = "Progressing"
  hs.message = phase and (phase .. " " .. message) or "Waiting for continuo to record the copy"
end
return hs
