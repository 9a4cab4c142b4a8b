#!/usr/bin/python3
"""A short tour of collectionsd from Python: import a delinquency feed, claim
and complete a task, print the portfolio report.

    PYTHONPATH=build/clients/python /usr/bin/python3 clients/python/example.py \\
        --server=127.0.0.1:50051 --tls_ca=var/dev-credentials/ca.pem \\
        --token_file=var/dev-credentials/tokens/operator.jwt

The token's principal needs the roles ingest (the feed), agent (the task)
and manager or supervisor (the report); the development credentials'
operator.jwt has them all. Connection flags default from the same
environment variables as the C++ clients (COLLECTIONS_SERVER,
COLLECTIONS_TLS_CA, COLLECTIONS_TOKEN_FILE, ...).

Exit status: 0 done; 1 the server refused a call (its gRPC code and message
are printed) or there was no task to claim; 2 bad usage or an unreadable
credentials file.
"""

import argparse
import datetime
import os
import sys
import time
import uuid

import grpc
from google.protobuf import duration_pb2

import collections_api
from collections_api.v1 import (case_pb2, case_service_pb2, case_service_pb2_grpc, common_pb2,
                                report_service_pb2, report_service_pb2_grpc, task_pb2,
                                task_service_pb2, task_service_pb2_grpc)


def midday_zone():
    """A zone where it is about midday now, so that the contact-hours rule of
    the shipped policy lets the SMS go out whenever this runs. (A real feed
    carries each borrower's own zone.)"""
    offset = 12 - datetime.datetime.now(datetime.timezone.utc).hour  # UTC-11..UTC+12
    if offset == 0:
        return "Etc/UTC"
    return "Etc/GMT%s%d" % ("-" if offset > 0 else "+", abs(offset))  # POSIX names invert


def day_of(date):
    return datetime.date(date.year, date.month, date.day)


def date_of(day):
    return common_pb2.Date(year=day.year, month=day.month, day=day.day)


def cny(fen):
    return "{:,.2f} CNY".format(fen / 100)


def feed(as_of, loan_prefix):
    """The day's overdue feed: two loans, 5 and 40 days past due."""
    zone = midday_zone()
    for n, (days, overdue_fen) in enumerate([(5, 180_000), (40, 650_000)], start=1):
        yield case_service_pb2.ImportDelinquenciesRequest(record=case_pb2.DelinquencyRecord(
            loan_id="%s-%d" % (loan_prefix, n),
            as_of=date_of(as_of),
            oldest_unpaid_due_date=date_of(as_of - datetime.timedelta(days=days)),
            product="mortgage",
            principal_outstanding_fen=80_000_000,
            overdue=common_pb2.OverdueAmounts(principal_fen=overdue_fen),
            borrower=case_pb2.Borrower(borrower_id="B-%s-%d" % (loan_prefix, n),
                                       name="Li Lei", phones=["+86 138 0000 0000"],
                                       address="1 Nanjing Rd, Shanghai", time_zone=zone,
                                       region="SH")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("COLLECTIONS_SERVER",
                                                           "127.0.0.1:50051"))
    parser.add_argument("--tls_ca", help="CA bundle that verifies the server (TLS)")
    parser.add_argument("--tls_cert", help="client certificate (mutual TLS), with --tls_key")
    parser.add_argument("--tls_key")
    parser.add_argument("--tls_server_name", help="the name in the server's certificate")
    parser.add_argument("--token_file", help="a file holding one JWT")
    parser.add_argument("--worker", default="python-example", help="the worker id of the claim")
    parser.add_argument("--loan_prefix", default="PY-%d" % int(time.time()),
                        help="loan ids are PREFIX-1 and PREFIX-2")
    args = parser.parse_args()
    try:
        channel = collections_api.connect(args.server, tls_ca=args.tls_ca,
                                          token_file=args.token_file, tls_cert=args.tls_cert,
                                          tls_key=args.tls_key,
                                          tls_server_name=args.tls_server_name)
    except ValueError as e:
        print("example: %s" % e, file=sys.stderr)
        return 2
    cases = case_service_pb2_grpc.CaseServiceStub(channel)
    tasks = task_service_pb2_grpc.TaskServiceStub(channel)
    reports = report_service_pb2_grpc.ReportServiceStub(channel)

    # The server's business date: the portfolio's as_of when no date is asked.
    today = day_of(reports.Portfolio(report_service_pb2.ReportRequest(), timeout=30).as_of)
    print("business date %s" % today)

    # The feed: a client stream of records, one answer for the whole stream.
    imported = cases.ImportDelinquencies(feed(today, args.loan_prefix), timeout=60)
    print("imported: %d opened, %d updated, %d unchanged, %d rejected" %
          (imported.opened, imported.updated, imported.unchanged, imported.rejected))
    for error in imported.errors:
        print("  row %d (%s): %s: %s" % (error.index, error.loan_id, error.field, error.message))

    # Claim one SMS reminder (long-polling up to 10 s) and report it sent.
    claimed = tasks.ClaimTasks(task_service_pb2.ClaimTasksRequest(
        worker_id=args.worker, queues=["sms"], max_tasks=1,
        wait=duration_pb2.Duration(seconds=10)), timeout=30)
    if not claimed.tasks:
        print("example: no task ready in queue sms", file=sys.stderr)
        return 1
    task = claimed.tasks[0]
    print("claimed task %d (%s, queue %s, case %d, lease token %d)" %
          (task.task_id, common_pb2.TaskType.Name(task.type), task.queue, task.case_id,
           task.lease_token))
    done = tasks.CompleteTask(task_service_pb2.CompleteTaskRequest(
        task_id=task.task_id, lease_token=task.lease_token, lease_key=task.lease_key,
        request_id=str(uuid.uuid4()),  # a retry would reuse it
        outcome=task_pb2.TaskOutcome(sms=task_pb2.SmsOutcome(
            delivered=True, gateway_reference="example"))), timeout=30)
    print("completed task %d: %s; case %d is now %s" %
          (done.task.task_id, task_pb2.TaskState.Name(done.task.state), task.case_id,
           common_pb2.Stage.Name(done.case_stage)))

    # The book today.
    book = reports.Portfolio(report_service_pb2.ReportRequest(), timeout=30)
    print("portfolio as of %s%s: %d cases, overdue %s, principal outstanding %s" %
          (day_of(book.as_of), " (live)" if book.live else "", book.cases, cny(book.overdue_fen),
           cny(book.principal_outstanding_fen)))
    for cell in book.cells:
        print("  %-22s %-22s %-8s %4d cases  overdue %s" %
              (common_pb2.CaseClass.Name(cell.case_class), common_pb2.Stage.Name(cell.stage),
               cell.dpd_bucket, cell.cases, cny(cell.overdue_fen)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except grpc.RpcError as e:
        print("example: the server refused: %s: %s" % (e.code().name, e.details()),
              file=sys.stderr)
        sys.exit(1)
