"""How the demo reads its closing figures from the sandbox: the same numbers as the slower reads they replace."""

from __future__ import annotations

from types import SimpleNamespace

import boto3
import pytest

from sandbox import demo
from tests.factories import create_provenance_table


def _scan_count(client: object, table: str) -> int:
    paginator = client.get_paginator("scan")  # type: ignore[attr-defined]
    return sum(page["Count"] for page in paginator.paginate(TableName=table, Select="COUNT"))


@pytest.mark.usefixtures("aws")
def test_provenance_item_count_is_what_a_scan_counts() -> None:
    # Given a provenance table (moto with the sandbox's fast paths) after puts, batch writes, updates and deletes,
    # with items large enough for a Scan to take several 1 MB pages
    client = boto3.client("dynamodb", region_name="us-east-1")
    table = create_provenance_table(client)
    account = SimpleNamespace(dynamodb=client, table_name=table)
    assert demo.provenance_item_count(account) == 0  # type: ignore[arg-type]
    padding = "x" * 200_000
    for i in range(12):
        client.put_item(TableName=table, Item={"pk": {"S": f"RUN#{i % 5}"}, "sk": {"S": f"S#{i}"},
                                               "pad": {"S": padding}})
    client.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": {"pk": {"S": "BATCH#1"}, "sk": {"S": f"M#{i}"}}}} for i in range(20)]})
    client.update_item(TableName=table, Key={"pk": {"S": "RUN#9"}, "sk": {"S": "NEW"}},
                       UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                       ExpressionAttributeValues={":s": {"S": "RUNNING"}})
    client.delete_item(TableName=table, Key={"pk": {"S": "RUN#0"}, "sk": {"S": "S#5"}})
    client.delete_item(TableName=table, Key={"pk": {"S": "RUN#0"}, "sk": {"S": "absent"}})
    # When the demo counts the provenance items
    # Then it finds what a Scan of the whole table counts, at once
    assert demo.provenance_item_count(account) == _scan_count(client, table) == 12 + 20 + 1 - 1  # type: ignore[arg-type]
