import os
import time


def handler(event, context):
    action = event.get("action")
    print("handling", action)
    if action == "error":
        raise ValueError("boom")
    if action == "sleep":
        time.sleep(event.get("ms", 0) / 1000.0)
    if action == "exit":
        os._exit(3)
    if action == "env":
        return {
            "requestId": context.aws_request_id,
            "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
            "remaining": context.get_remaining_time_in_millis() > 0,
            "pid": os.getpid(),
        }
    return event
