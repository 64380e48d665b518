"""Create MLflow's artifact bucket unless it exists: the MLflow pod's init container runs this on every start.

Reads MLFLOW_ARTIFACTS_DESTINATION (s3://BUCKET/prefix), MLFLOW_S3_ENDPOINT_URL (empty: AWS itself),
AWS_DEFAULT_REGION and the AWS_* credentials, as the server does. Waits for the endpoint (SeaweedFS
starts beside MLflow), fails at once on anything else (wrong credentials, a bucket owned by someone else).
"""

import os
import sys
import time
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError

WAIT_SECONDS = 300


def main() -> int:
    destination = os.environ.get("MLFLOW_ARTIFACTS_DESTINATION", "")
    parsed = urlparse(destination)
    if parsed.scheme != "s3" or not parsed.netloc:
        print(f"MLFLOW_ARTIFACTS_DESTINATION={destination!r} must be s3://BUCKET[/prefix]", file=sys.stderr)
        return 2
    bucket = parsed.netloc
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
    where = endpoint or f"AWS S3 ({region})"
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            s3.head_bucket(Bucket=bucket)
            print(f"bucket {bucket} exists on {where}")
            return 0
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in ("404", "NoSuchBucket"):
                break
            if status < 500:  # 403 and the like: waiting will not help
                print(f"cannot use bucket {bucket} on {where}: {exc} (check the agenthpo-s3 Secret)", file=sys.stderr)
                return 1
            reason = str(exc)
        except BotoCoreError as exc:  # not listening yet, DNS not ready, ...
            reason = str(exc)
        if time.monotonic() > deadline:
            print(f"S3 endpoint {where} not ready after {WAIT_SECONDS} s: {reason}", file=sys.stderr)
            return 1
        print(f"waiting for {where}: {reason}", flush=True)
        time.sleep(5)
    # Outside us-east-1, AWS wants the region named again; S3-compatible servers accept either form.
    options = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=bucket, **options)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            print(f"cannot create bucket {bucket} on {where}: {exc}", file=sys.stderr)
            return 1
    print(f"created bucket {bucket} on {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
