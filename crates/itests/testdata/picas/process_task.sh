#!/bin/bash
# The shape of picas' example process_task.sh: trace to stderr, a header on
# stdout, the token's input under bash -c; exit 1 on failure, else 0.
set -x
INPUT=$1
TOKENID=$2
echo "date: $(date)"
echo "host: $(hostname)"
echo "input: $INPUT"
OUTPUT=output_${TOKENID}
echo "output: $OUTPUT"
if ! bash -c "$INPUT"; then
    exit 1
fi
echo "date: $(date)"
exit 0
