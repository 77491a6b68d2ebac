"""PreSignUp: only addresses in the allowed domains may sign up (seed 004's idea, for sign-up).

Raising rejects the sign-up: Cognito answers the SignUp call with UserLambdaValidationException
"PreSignUp failed with error <message>." and creates no user.
"""
import os


def lambda_handler(event, context):
    allowed = [d.strip().lower() for d in os.environ.get("ALLOWED_DOMAINS", "").split(",") if d.strip()]
    email = event["request"]["userAttributes"].get("email", "")
    domain = email.rpartition("@")[2].lower()
    if domain not in allowed:
        raise Exception(f"Sign-up is limited to {', '.join(allowed)} addresses")
    # Addresses from our own domains need no confirmation code.
    event["response"]["autoConfirmUser"] = True
    event["response"]["autoVerifyEmail"] = True
    return event
