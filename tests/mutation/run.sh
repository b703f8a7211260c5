#!/usr/bin/env bash
# Mutation testing of reflog's rule modules with mutmut 3 (see tests/MUTATION.md).
#
#   tests/mutation/run.sh GROUP [MUTANT_GLOB...]
#
# GROUP is one of: checker, replication, log, groups, groups-interop, apis-unit, apis. Each group mutates only its rule
# modules and runs only the fast unit tests that target them. The run happens in a scratch copy
# of the work tree (/tmp/reflog-mutation/GROUP, or $MUTATION_DIR/GROUP) so mutmut's mutants/
# directory never lands in the work tree; its setup.cfg [mutmut] section is written here.
# The results go to /tmp/reflog-mutation/GROUP/results.txt (`mutmut results --all true`).
# mutmut is not a dependency: `.venv/bin/pip install 'mutmut>=3.8,<4'` first.
set -euo pipefail

group=${1:?usage: tests/mutation/run.sh GROUP [MUTANT_GLOB...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${VENV:-$root/.venv}
base=${MUTATION_DIR:-/tmp/reflog-mutation}
children=${MUTATION_CHILDREN:-2}

case $group in
    checker)
        mutate="faults/checker.py"
        tests="tests/faults/test_history_and_checker.py" ;;
    replication)
        mutate="reflog/replication/partition.py reflog/replication/producer_state.py
                reflog/replication/controller.py reflog/replication/_controller_change.py
                reflog/replication/controller_config.py reflog/replication/controller_values.py
                reflog/replication/controller_events.py reflog/replication/_controller_alter.py
                reflog/replication/_controller_topics.py reflog/replication/_controller_sessions.py
                reflog/replication/_controller_state.py reflog/replication/_controller_elections.py
                reflog/replication/follower_state.py reflog/replication/partition_values.py"
        tests="tests/replication/test_partition.py tests/replication/test_controller.py
               tests/replication/test_partition_rules.py tests/replication/test_controller_rules.py
               tests/replication/test_follower_state.py" ;;
    log)
        mutate="reflog/log/log.py reflog/log/recovery.py reflog/log/reads.py reflog/log/append.py
                reflog/log/segment.py reflog/log/index.py reflog/log/retention.py reflog/log/truncation.py"
        tests="tests/log/test_log_basics.py tests/log/test_truncate_and_epochs.py tests/log/test_storage_faults.py
               tests/log/test_client_batches.py
               tests/log/test_index_rules.py tests/log/test_retention_rules.py tests/log/test_log_rules.py
               tests/log/test_segment_rules.py tests/log/test_recovery_rules.py tests/log/test_offline_rules.py" ;;
    groups)
        mutate="reflog/kafka/groups.py"
        tests="tests/kafka/test_group_rules.py" ;;
    groups-interop)  # the real-client tests, the only ones that reached groups.py before test_group_rules.py
        mutate="reflog/kafka/groups.py"
        tests="tests/kafka/test_interop.py" ;;
    apis-unit)  # in process, affordable in full: run.sh apis-unit 'reflog.kafka.group_apis.*ǁoffset_fetch__mutmut_*'
        mutate="reflog/kafka/apis.py reflog/kafka/group_apis.py reflog/kafka/topic_apis.py reflog/kafka/list_offsets_api.py reflog/kafka/fetch_fields.py"
        tests="tests/kafka/test_apis_rules.py" ;;
    apis)  # real sockets: sample, e.g. run.sh apis 'reflog.kafka.apis.*_fetch__mutmut_*0'
        mutate="reflog/kafka/apis.py reflog/kafka/group_apis.py reflog/kafka/topic_apis.py reflog/kafka/list_offsets_api.py reflog/kafka/fetch_fields.py"
        tests="tests/kafka/test_protocol.py tests/kafka/test_transfer_paths.py tests/kafka/test_interop.py
               tests/kafka/test_fetch_bounds_rules.py" ;;
    *)
        echo "unknown group $group" >&2
        exit 2 ;;
esac

work=$base/$group
rm -rf "$work"
mkdir -p "$work"
# The tracked files as they are in the work tree now (edits included), without git metadata.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work")
{
    echo "[mutmut]"
    echo "source_paths ="
    echo "    reflog"
    echo "    faults"
    echo "only_mutate ="
    for path in $mutate; do echo "    $path"; done
    echo "also_copy ="
    echo "    specs"
    echo "pytest_add_cli_args ="
    echo "    --hypothesis-profile=ci"
    echo "    -p"
    echo "    no:cacheprovider"
    echo "pytest_add_cli_args_test_selection ="
    for path in $tests; do echo "    $path"; done
} > "$work/setup.cfg"
cd "$work"
nice -n 10 "$venv/bin/mutmut" run --max-children "$children" "$@"
"$venv/bin/mutmut" results --all true > results.txt
echo "results: $work/results.txt"
