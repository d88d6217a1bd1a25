# The Conveyor image: Airflow with the project installed, plus what Spark needs (Java and the S3A
# connector). docker-compose.yaml runs every Airflow process, MLflow and the Spark standalone
# cluster from it, so drivers and executors run the same Spark and the same Python packages.
#
#   docker build -t conveyor .                                                  # CPU torch
#   docker build -t conveyor-gpu --build-arg TORCH_INDEX_URL=https://pypi.org/simple .  # CUDA torch
#
# The tag must match the apache-airflow pin in pyproject.toml (tests/deploy checks it).
FROM apache/airflow:3.3.2-python3.11

USER root
# Spark 4 runs on Java 17. The man directory keeps the JRE's post-install step happy on slim images.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && apt-get autoremove -yqq --purge \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /opt/conveyor \
 && chown airflow:0 /opt/conveyor
USER airflow

# torch first and on its own, from the index the build asks for: the CPU wheels by default, the
# CUDA build for the GPU worker's image. The project install below then finds it in place.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

# Dependencies before the code, so editing a DAG does not reinstall them.
COPY --chown=airflow:0 pyproject.toml constraints.txt README.md /opt/conveyor/
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/opt/conveyor/pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install --no-cache-dir -c /opt/conveyor/constraints.txt -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# S3A for the lake in MinIO: hadoop-aws must be the Hadoop version pyspark bundles
# (pyspark 4.3.0 ships hadoop-client-api-3.5.0), with the AWS SDK v2 bundle that Hadoop
# release is built against (hadoop-project 3.5.0: aws-java-sdk-v2.version 2.35.4).
ARG HADOOP_AWS_VERSION=3.5.0
ARG AWS_SDK_BUNDLE_VERSION=2.35.4
ARG MAVEN_REPOSITORY=https://repo1.maven.org/maven2
RUN set -eu; \
    jars="$(python -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')"; \
    if [ ! -f "${jars}/hadoop-client-api-${HADOOP_AWS_VERSION}.jar" ]; then \
      echo "pyspark does not bundle Hadoop ${HADOOP_AWS_VERSION}; set HADOOP_AWS_VERSION to match:" >&2; \
      ls "${jars}" | grep '^hadoop-client' >&2; \
      exit 1; \
    fi; \
    for path in \
      "org/apache/hadoop/hadoop-aws/${HADOOP_AWS_VERSION}/hadoop-aws-${HADOOP_AWS_VERSION}.jar" \
      "software/amazon/awssdk/bundle/${AWS_SDK_BUNDLE_VERSION}/bundle-${AWS_SDK_BUNDLE_VERSION}.jar"; do \
      jar="${jars}/$(basename "${path}")"; \
      curl -fsSL -o "${jar}" "${MAVEN_REPOSITORY}/${path}"; \
      echo "$(curl -fsSL "${MAVEN_REPOSITORY}/${path}.sha1" | cut -c1-40)  ${jar}" | sha1sum -c -; \
    done

COPY --chown=airflow:0 dags /opt/conveyor/dags
COPY --chown=airflow:0 ml_tasks /opt/conveyor/ml_tasks
COPY --chown=airflow:0 spark_jobs /opt/conveyor/spark_jobs
COPY --chown=airflow:0 plugins /opt/conveyor/plugins
COPY --chown=airflow:0 expectations /opt/conveyor/expectations
COPY --chown=airflow:0 docker/entrypoint.sh /opt/conveyor/docker/entrypoint.sh
# Editable, so the settings' repository root is /opt/conveyor and the DAG folder and the
# installed conveyor_factory are the same files.
RUN pip install --no-cache-dir --no-deps -e /opt/conveyor \
 && mkdir -p -m 775 /opt/airflow/auth /opt/airflow/conveyor

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/conveyor/dags \
    CONVEYOR_HOME=/opt/airflow/conveyor \
    CONVEYOR_SPECS_DIR=/opt/conveyor/dags/specs \
    CONVEYOR_EXPECTATIONS_DIR=/opt/conveyor/expectations \
    PYSPARK_PYTHON=python

# Airflow's entrypoint for everything, except `executor`: Spark on Kubernetes starts executor
# pods from this same image (CONVEYOR_SPARK_IMAGE), so they run the driver's Spark and Python.
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/opt/conveyor/docker/entrypoint.sh"]
