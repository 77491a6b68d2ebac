"""docs/operations.md lists exactly the operations of botocore's cognito-idp model."""
import pathlib
import re

import botocore.session


def test_operations_table_lists_every_cognito_operation():
    model = botocore.session.get_session().get_service_model("cognito-idp")
    doc = (pathlib.Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text()
    rows = set(re.findall(r"^\| (\w+) \| (?:none|SigV4) \| (?:yes|not yet) \|$", doc, re.M))
    assert rows == set(model.operation_names)
    for name in model.operation_names:
        op = model.operation_model(name)
        unsigned = op.auth_type == "none" or "smithy.api#noAuth" in (op.metadata.get("auth") or op.auth or [])
        expected = "none" if unsigned else "SigV4"
        assert re.search(rf"^\| {name} \| {expected} \|", doc, re.M), name
