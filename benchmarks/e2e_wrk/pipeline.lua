-- wrk script of benchmarks/e2e.py: 16 GET requests pipelined in every write.
-- wrk counts the requests in the buffer and expects as many responses.
local depth = 16

init = function(args)
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format()
  end
  batch = table.concat(requests)
end

request = function()
  return batch
end
