"""A driver killed while a query writes its first offsets leaves S3A's temporary file behind
(a rename on S3 is a copy, then a delete): the checkpoint then holds no batch but is not empty.
The query must still start, or the application could never be restarted."""

from __future__ import annotations

import io
import uuid

from lakehouse.settings import Secrets
from lakehouse.storage import s3_client
from tests.faults.private_stack import PrivateStack


def test_query_starts_on_a_new_checkpoint_holding_a_stray_temporary_file(
    faults_spark, faults_stack: PrivateStack, secrets: Secrets
) -> None:
    settings, spark = faults_stack.settings, faults_spark
    bucket, folder = settings.s3.bucket, f"{settings.namespace}/_checkpoints/first-batch-test"
    client = s3_client(settings, secrets)
    client.put_object(bucket, f"{folder}/offsets/.0.{uuid.uuid4()}.tmp", io.BytesIO(b"v1"), 2)
    batches: list[int] = []
    try:
        query = (
            spark.readStream.format("rate-micro-batch")
            .option("rowsPerBatch", 5)
            .load()
            .writeStream.foreachBatch(lambda _frame, batch_id: batches.append(batch_id))
            .option("checkpointLocation", f"s3a://{bucket}/{folder}")
            .trigger(once=True)
            .start()
        )
        query.awaitTermination(180)
        assert query.exception() is None, query.exception()
        assert batches == [0]
    finally:
        for obj in client.list_objects(bucket, prefix=f"{folder}/", recursive=True):
            client.remove_object(bucket, obj.object_name)
