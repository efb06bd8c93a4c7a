-- Change mark of the staging table the sales facts are built from: per partition, the highest block
-- number or mutation version among its active parts, summed over partitions. An insert or a mutation
-- raises it, a merge leaves it as it is, a dropped partition lowers it; so "the mark differs" means
-- "staging changed". Block numbers are per table (MergeTree) or per partition (Replicated*): the sum of
-- per-partition maxima moves with both.
SELECT toUInt64(sum(mark))
FROM
(
    SELECT partition_id, max(greatest(max_block_number, data_version)) AS mark
    FROM system.parts
    WHERE database = '{{ db }}' AND table = 'stg_qtickets_api_tickets_raw' AND active
    GROUP BY partition_id
)
