-- Runs an Argo CD health check (`check`, a chunk reading the global `obj`) against cases of
-- { name, object, wanted status, text the message must contain }, prints the tally and exits non-zero on a failure.
return function(label, check, cases)
  local failed, passed = 0, 0
  for _, case in ipairs(cases) do
    local name, object, want_status, want_message = table.unpack(case)
    obj = object
    local hs = check()
    if hs.status == want_status and string.find(hs.message or "", want_message, 1, true) then
      passed = passed + 1
    else
      failed = failed + 1
      print(string.format("FAIL %s: got %s (%q), want %s containing %q", name, tostring(hs.status), tostring(hs.message), want_status, want_message))
    end
  end
  print(string.format("%s: %d passed, %d failed", label, passed, failed))
  os.exit(failed == 0 and 0 or 1)
end
