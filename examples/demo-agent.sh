#!/usr/bin/env bash
# A stand-in for an AI agent that is careless with data. Every value here is SYNTHETIC
# test data (invented numbers, reserved example domains), never real PHI.
echo "agent: starting task 'summarise patient intake backlog'"
echo "patient record: SSN 123-45-6789, email jane.roe@example.com, phone (555) 201-3344"
printf 'colour output: MRN \033[31mMRN-0042-77\033[0m flagged\n'
printf 'progress 10%%\rprogress 90%%\rprogress 100%%\n'
printf 'split across writes: 536-22-'; sleep 0.05; printf '1234 end\n'
echo "connection: postgresql://svc:hunter2-synthetic@db.example.com/clinic"
echo "agent: done"
