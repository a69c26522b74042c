-- What a ResilientService needs wherever it is propagated: its class, and the BackupLocation its copies go to
-- (both cluster-scoped). With propagateDeps (continuo's PropagationPolicy sets it) Karmada sends them along.
function GetDependencies(desiredObj)
  local deps = {}
  local spec = desiredObj.spec or {}
  if spec.className ~= nil then
    table.insert(deps, { apiVersion = "continuo.dev/v1alpha1", kind = "ContinuityClass", name = spec.className })
  end
  if spec.backup ~= nil and spec.backup.location ~= nil then
    table.insert(deps, { apiVersion = "continuo.dev/v1alpha1", kind = "BackupLocation", name = spec.backup.location })
  end
  return deps
end
