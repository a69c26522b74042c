-- Runs the Argo CD health check of ContinuityDrill against its phases.
-- lua5.4 tests/argocd/drill_test.lua charts/continuo/files/argocd-health-drill.lua
local script = arg[1] or "charts/continuo/files/argocd-health-drill.lua"
local check = assert(loadfile(script))
local function drill(status)
  return { apiVersion = "continuo.dev/v1alpha1", kind = "ContinuityDrill", metadata = { name = "q1" }, status = status }
end
local cases = {
  { "not started yet", drill(nil), "Progressing", "Waiting for continuo" },
  { "running", drill({ phase = "Running", zone = "eu-south-1a" }), "Progressing", "zone eu-south-1a taken out" },
  { "passed", drill({ phase = "Passed", message = "back to 5 Ready outside eu-south-1a 34s after" }), "Healthy", "34s" },
  { "failed", drill({ phase = "Failed", message = "back after 20m, RTO 15m" }), "Degraded", "Failed: back after 20m" },
  { "aborted", drill({ phase = "Aborted", message = "timeout 30m reached" }), "Degraded", "Aborted: timeout" },
}
local run = dofile((arg[0]:match("(.*/)") or "./") .. "cases.lua")
run("argocd-health (ContinuityDrill)", check, cases)
