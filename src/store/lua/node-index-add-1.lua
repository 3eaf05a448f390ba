--[[
  Lists an invocation in a node's index (see indexOnNode): the upgrade's backfill of
  invocations created before the per-node indexes.

    Input:
      KEYS[1] node invocation index (sorted set)

      ARGV[1] createdMs
      ARGV[2] invokeId
      ARGV[3] cutoffMs
      ARGV[4] run key prefix: the node's run key without the invocation id

    Output:
      <n>   how many old index entries it checked (integer)
]]
return indexOnNode(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
