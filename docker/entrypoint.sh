#!/usr/bin/env bash
# Entrypoint of the Conveyor image. Spark on Kubernetes starts executor pods from this image
# with the single argument `executor` and describes the executor in environment variables
# (SPARK_DRIVER_URL, SPARK_EXECUTOR_ID, ...); everything else goes to Airflow's entrypoint.
set -euo pipefail

if [[ "${1:-}" == "executor" ]]; then
  spark_home="$(python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
  # Spark passes the executor's JVM options as SPARK_JAVA_OPT_0, SPARK_JAVA_OPT_1, ...
  mapfile -t java_opts < <(env | grep '^SPARK_JAVA_OPT_' | sort -t_ -k4 -n | sed 's/^SPARK_JAVA_OPT_[0-9]*=//')
  exec java \
    "${java_opts[@]}" \
    "-Xms${SPARK_EXECUTOR_MEMORY}" "-Xmx${SPARK_EXECUTOR_MEMORY}" \
    -cp "${spark_home}/jars/*" \
    org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
    --driver-url "${SPARK_DRIVER_URL}" \
    --executor-id "${SPARK_EXECUTOR_ID}" \
    --cores "${SPARK_EXECUTOR_CORES}" \
    --app-id "${SPARK_APPLICATION_ID}" \
    --hostname "${SPARK_EXECUTOR_POD_IP}" \
    --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID}" \
    --podName "${SPARK_EXECUTOR_POD_NAME}"
fi

exec /entrypoint "$@"
