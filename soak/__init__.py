"""The soak harness: drives a deployment of Conveyor from outside, night after night, with faults.

Owns the distributed deployment's services on loopback (PostgreSQL, Redis, an S3 API behind a
link that can be cut, a Spark standalone cluster, an alert receiver), its faults and the
distributed soak's runner (`make soak-distributed`). The product never imports it.
"""
