"""The PyUNICORE side of `cargo xtask bench unicore`: the same workloads with
PyUNICORE 2.0.2's own calls, as its users write them."""
import os
import sys

import pyunicore.client as uc
import pyunicore.credentials as cr


def main():
    cred = cr.UsernamePassword(os.environ["UC_USER"], os.environ["UC_PASSWORD"])
    site = uc.Client(cred, os.environ["UC_URL"])
    home = uc.Storage(site.transport, os.environ["UC_URL"] + "/storages/HOME")
    what = sys.argv[1]
    if what == "jobs":
        jobs = [site.new_job({"Executable": "echo bench"}) for _ in range(int(sys.argv[2]))]
        for j in jobs:
            j.poll()
            assert j.status == uc.JobStatus.SUCCESSFUL
    elif what == "list":
        for _ in range(int(sys.argv[2])):
            assert home.listdir(sys.argv[3])
    elif what == "small":
        for i in range(int(sys.argv[2])):
            assert home.stat(f"{sys.argv[3]}/f{i}.txt").read()
    elif what == "download":
        home.stat(sys.argv[2]).download(sys.argv[3])
    elif what == "upload":
        home.upload(sys.argv[2], destination=sys.argv[3])
    else:
        raise SystemExit("unknown workload " + what)


main()
