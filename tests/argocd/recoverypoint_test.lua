-- Runs the Argo CD health check of RecoveryPoint against its phases.
-- lua5.4 tests/argocd/recoverypoint_test.lua charts/continuo/files/argocd-health-recoverypoint.lua
local script = arg[1] or "charts/continuo/files/argocd-health-recoverypoint.lua"
local check = assert(loadfile(script))
local function point(status)
  return { apiVersion = "continuo.dev/v1alpha1", kind = "RecoveryPoint", metadata = { name = "hub-1" }, status = status }
end
local cases = {
  { "not recorded yet", point(nil), "Progressing", "Waiting for continuo" },
  { "available", point({ phase = "Available", id = "4f1c2a9e" }), "Healthy", "4f1c2a9e" },
  { "being deleted by retention", point({ phase = "Deleting", message = "expired by retention; the agent is deleting the copy" }),
    "Progressing", "expired by retention" },
  { "delete run failed", point({ phase = "Deleting", message = "the agent's delete run failed; the point is kept" }),
    "Degraded", "delete run failed" },
  { "failed copy", point({ phase = "Failed", message = "agent exited 1" }), "Degraded", "agent exited 1" },
}
local run = dofile((arg[0]:match("(.*/)") or "./") .. "cases.lua")
run("argocd-health (RecoveryPoint)", check, cases)
