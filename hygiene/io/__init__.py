"""Reading shards and writing outputs: shard discovery and streaming reads, atomic writers, column names."""
