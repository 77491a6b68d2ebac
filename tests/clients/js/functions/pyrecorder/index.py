"""The Python twin of ../recorder: records events and answers from $RECORD_DIR/answers.json."""
import json
import os


def handler(event, context):
    d = os.environ["RECORD_DIR"]
    with open(os.path.join(d, "events.jsonl"), "a") as f:
        f.write(json.dumps({"fn": context.function_name, "remainingMs": context.get_remaining_time_in_millis(), "event": event}) + "\n")
    path = os.path.join(d, "answers.json")
    answers = json.load(open(path)) if os.path.exists(path) else {}
    a = answers.get(event["triggerSource"]) or answers.get(context.function_name) or {}
    if a.get("throw"):
        raise ValueError(a["throw"])
    if a.get("response"):
        event["response"].update(a["response"])
    return event
