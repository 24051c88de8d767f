"""PyXenon 3.0.3 scenarios run against `hpckit xenon-grpc` by crates/itests/tests/xenon_*.rs.

Usage: python scenarios.py <scenario>; settings come from the environment:
  XENON_PORT                 port of the running server (disable_tls=True)
  XENON_TLS_CERT, XENON_TLS_KEY  connect with TLS instead, as PyXenon does with the
                             server it starts: this one certificate is trust root and
                             client certificate
  SCHED_ADAPTOR, SCHED_LOCATION, SCHED_QUEUE (optional)
  FS_ADAPTOR, FS_LOCATION, WORKDIR (a scratch directory on that file system)
  XUSER, XPASSWORD           a PasswordCredential, when set
  XPROPS                     JSON object of Xenon properties (optional)
Each scenario asserts what it checks and prints one JSON object with what it saw.
"""
import json
import os
import sys
import time

import xenon
from xenon.exceptions import (InvalidCredentialException, InvalidLocationException,
                              NoSuchJobException, NoSuchPathException,
                              PathAlreadyExistsException, UnknownAdaptorException,
                              UnknownPropertyException, XenonException)


def credential_kwargs():
    if os.environ.get('XUSER') and os.environ.get('XPASSWORD') is not None:
        return {'password_credential': xenon.PasswordCredential(
            username=os.environ['XUSER'], password=os.environ['XPASSWORD'])}
    return {}


def props():
    return json.loads(os.environ.get('XPROPS') or '{}')


def init():
    start = time.monotonic()
    port = int(os.environ['XENON_PORT'])
    if os.environ.get('XENON_TLS_CERT'):
        # xenon.init() with TLS, after it has started its server: PyXenon's own
        # get_secure_channel (xenon/server.py), with our certificate instead of the
        # one create_keys.py makes (1024-bit RSA, which rustls refuses).
        from xenon.proto import xenon_pb2_grpc
        from xenon.server import __server__, get_secure_channel
        __server__.port = port
        __server__.channel = get_secure_channel(
            os.environ['XENON_TLS_CERT'], os.environ['XENON_TLS_KEY'], port)
        __server__.file_system_stub = xenon_pb2_grpc.FileSystemServiceStub(__server__.channel)
        __server__.scheduler_stub = xenon_pb2_grpc.SchedulerServiceStub(__server__.channel)
    else:
        xenon.init(port=port, disable_tls=True)
    return time.monotonic() - start


def tls_refusals():
    """Clients the mutual-TLS server must turn away: one without a client
    certificate, and one speaking plain text."""
    import grpc
    import socket
    from xenon.proto import xenon_pb2, xenon_pb2_grpc
    port = int(os.environ['XENON_PORT'])
    address = '{}:{}'.format(socket.gethostname(), port)
    with open(os.environ['XENON_TLS_CERT'], 'rb') as f:
        root = f.read()
    channels = {
        'no_client_certificate': grpc.secure_channel(
            address, grpc.ssl_channel_credentials(root_certificates=root)),
        'plain_text': grpc.insecure_channel(address),
    }
    out = {}
    for name, channel in channels.items():
        stub = xenon_pb2_grpc.SchedulerServiceStub(channel)
        try:
            stub.getAdaptorNames(xenon_pb2.Empty(), timeout=20)
            out[name] = 'accepted'
        except grpc.RpcError as e:
            out[name] = e.code().name
        channel.close()
    return out


def scheduler():
    return xenon.Scheduler.create(
        adaptor=os.environ['SCHED_ADAPTOR'], location=os.environ.get('SCHED_LOCATION', ''),
        properties=props(), **credential_kwargs())


def filesystem():
    return xenon.FileSystem.create(
        adaptor=os.environ['FS_ADAPTOR'], location=os.environ.get('FS_LOCATION', ''),
        properties=props(), **credential_kwargs())


def raises(cls, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except cls as e:
        assert isinstance(e, XenonException)
        return type(e).__name__ + ': ' + str(e)
    raise AssertionError('expected {} from {}'.format(cls.__name__, call))


def readme():
    """The README example: `hostname` into a file, wait, read the file."""
    init()
    out = {}
    workdir = os.environ['WORKDIR']
    with scheduler() as sched:
        target = os.path.join(workdir, 'stdout.txt')
        desc = xenon.JobDescription(executable='hostname', stdout=target)
        job = sched.submit_batch_job(desc)
        status = sched.wait_until_done(job, 60000)
        assert status.done, str(status)
        assert status.exit_code == 0, str(status)
        out['job'] = job.id
        out['state'] = status.state
        with open(target) as f:
            out['stdout'] = f.read()
    return out


def jobs():
    """Batch jobs: submit many, one status call for all, wait, exit codes, cancel,
    queues, a job id that does not exist."""
    init()
    out = {}
    workdir = os.environ['WORKDIR']
    queue = os.environ.get('SCHED_QUEUE') or None
    with scheduler() as sched:
        out['adaptor'] = sched.get_adaptor_name()
        out['queues'] = list(sched.get_queue_names())
        out['default_queue'] = sched.get_default_queue_name()
        descs = []
        for i in range(3):
            d = xenon.JobDescription(
                executable='/bin/sh', arguments=['-c', 'echo job-$0; exit $0', str(i)],
                working_directory=workdir, stdout='out-{}.txt'.format(i),
                stderr='err-{}.txt'.format(i), name='xenon-{}'.format(i))
            if queue:
                d.queue_name = queue
            descs.append(d)
        jobs = [sched.submit_batch_job(d) for d in descs]
        statuses = sched.get_job_statuses([j.__wrapped__ for j in jobs])
        assert [s.job.id for s in statuses] == [j.id for j in jobs]
        finals = [sched.wait_until_done(j, 120000) for j in jobs]
        out['exit_codes'] = [s.exit_code for s in finals]
        out['done'] = [s.done for s in finals]
        out['states'] = [s.state for s in finals]
        out['error_types'] = [s.error_type.name for s in finals]

        sleeper = xenon.JobDescription(executable='/bin/sleep', arguments=['600'],
                                       working_directory=workdir)
        if queue:
            sleeper.queue_name = queue
        long_job = sched.submit_batch_job(sleeper)
        sched.wait_until_running(long_job, 60000)
        sched.cancel_job(long_job)
        cancelled = sched.wait_until_done(long_job, 60000)
        out['cancelled'] = {'done': cancelled.done, 'state': cancelled.state,
                            'error_type': cancelled.error_type.name}
        # A short timeout on a running job returns its status, not an error.
        waiter = sched.submit_batch_job(sleeper)
        early = sched.wait_until_done(waiter, 200)
        out['early_done'] = early.done
        sched.cancel_job(waiter)

        missing = xenon.Job('999999999')
        out['missing_job'] = raises(NoSuchJobException, sched.get_job_status, missing)
        [unknown] = sched.get_job_statuses([missing.__wrapped__])
        out['missing_in_batch'] = unknown.error_type.name
    return out


def interactive():
    """An interactive `cat`: what goes in comes out; stderr separately."""
    init()
    out = {}
    with scheduler() as sched:
        desc = xenon.JobDescription(
            executable='/bin/sh', arguments=['-c', 'cat; echo to-stderr >&2'])
        lines = [b'Mystic noble gas,\n', b'Heavy yet fleeting from grasp,\n']
        job, stream = sched.submit_interactive_job(description=desc, stdin_stream=iter(lines))
        stdout, stderr = b'', b''
        for msg in stream:
            stdout += msg.stdout
            stderr += msg.stderr
        status = sched.wait_until_done(job, 60000)
        out['stdout'] = stdout.decode()
        out['stderr'] = stderr.decode()
        out['exit_code'] = status.exit_code
    return out


def abandon():
    """Starts an interactive `sleep`, says so, and waits to be killed (the test kills
    this process); the server must then cancel the job."""
    init()
    sched = scheduler()
    desc = xenon.JobDescription(executable='/bin/sleep', arguments=[os.environ['SLEEP_SECONDS']])
    job, stream = sched.submit_interactive_job(description=desc, stdin_stream=iter([]))
    print(json.dumps({'job': job.id}), flush=True)
    time.sleep(600)
    return {}


def files():
    """File operations, streams and a copy to and from this host."""
    init()
    out = {}
    workdir = xenon.Path(os.environ['WORKDIR'])
    with filesystem() as fs, xenon.FileSystem.create(adaptor='file') as local:
        out['adaptor'] = fs.get_adaptor_name()
        d = workdir / 'tree' / 'sub'
        fs.create_directories(d)
        out['dup_dirs'] = raises(PathAlreadyExistsException, fs.create_directories, d)
        f = d / 'hello.txt'
        fs.write_to_file(f, iter([b'Hello, ', b'World!\n']))
        out['dup_write'] = raises(PathAlreadyExistsException, fs.write_to_file, f, iter([b'x']))
        desc = fs.get_adaptor_description(name=out['adaptor'])
        if desc.can_append:
            fs.append_to_file(f, iter([b'more\n']))
        out['read'] = b''.join(fs.read_from_file(f)).decode()
        attrs = fs.get_attributes(f)
        out['size'] = attrs.size
        out['is_regular'] = attrs.is_regular
        out['exists'] = bool(fs.exists(f))
        out['missing'] = raises(NoSuchPathException, fs.get_attributes, d / 'nope')
        listing = sorted(str(a.path) for a in fs.list(workdir / 'tree', True))
        out['listing'] = [p[len(str(workdir)):] for p in listing]
        if desc.supports_rename:
            fs.rename(f, d / 'renamed.txt')
            f = d / 'renamed.txt'
        if desc.can_create_symboliclinks:
            fs.create_symbolic_link(d / 'link', xenon.Path('renamed.txt'))
            out['link'] = str(fs.read_symbolic_link(d / 'link'))
        if desc.supports_setting_posix_permissions:
            fs.set_posix_file_permissions(f, [xenon.PosixFilePermission.OWNER_READ,
                                              xenon.PosixFilePermission.OWNER_WRITE])
            out['permissions'] = sorted(p for p in fs.get_attributes(f).permissions)

        # A copy to this host and back, with progress and a wait.
        here = xenon.Path(os.environ['LOCAL_TMP'])
        big = here / 'big.bin'
        payload = bytes(range(256)) * 4096 * 3  # 3 MiB
        with open(str(big), 'wb') as h:
            h.write(payload)
        op = local.copy(big, fs, d / 'big.bin', xenon.CopyMode.CREATE, False)
        status = local.wait_until_done(op, 120000)
        out['copy_up'] = {'done': status.done, 'bytes': status.bytes_copied,
                          'error': status.error_message}
        op = fs.copy(d / 'big.bin', local, here / 'back.bin', xenon.CopyMode.CREATE, False)
        status = fs.wait_until_done(op, 120000)
        out['copy_down'] = {'done': status.done, 'bytes': status.bytes_copied}
        with open(str(here / 'back.bin'), 'rb') as h:
            out['round_trip_equal'] = h.read() == payload
        op = local.copy(big, fs, d / 'big.bin', xenon.CopyMode.CREATE, False)
        status = local.wait_until_done(op, 120000)
        out['copy_exists'] = {'done': status.done, 'error_type': status.error_type.name}
        op = local.copy(big, fs, d / 'big.bin', xenon.CopyMode.REPLACE, False)
        out['copy_replace'] = local.wait_until_done(op, 120000).error_type.name

        fs.delete(workdir / 'tree', True)
        out['deleted'] = not bool(fs.exists(workdir / 'tree'))
    return out


def inventory():
    """The RPCs the other scenarios leave out: open schedulers and file systems,
    the local ones, a scheduler's jobs and queue statuses, its file system, the
    default runtime, credentials (passwords blanked), working directories, and
    a copy's status and cancel."""
    init()
    from xenon.proto import xenon_pb2
    from xenon.server import __server__
    out = {}
    workdir = os.environ['WORKDIR']
    with scheduler() as sched, xenon.FileSystem.create(adaptor='file') as local:
        out['listed_schedulers'] = [s.id for s in xenon.Scheduler.list_schedulers()].count(sched.id)
        out['listed_file_systems'] = [f.id for f in xenon.FileSystem.list_file_systems()].count(local.id)
        out['local_scheduler'] = xenon.Scheduler.local_scheduler().get_adaptor_name()
        out['local_file_systems'] = [f.get_adaptor_name()
                                     for f in xenon.FileSystem.local_file_systems()]
        out['location'] = sched.get_location()
        out['properties'] = dict(sched.get_properties())
        out['is_open'] = sched.is_open()
        stub = __server__.scheduler_stub
        out['default_runtime'] = stub.getDefaultRuntime(sched.__wrapped__).value
        cred = stub.getCredential(sched.__wrapped__)
        kind = cred.WhichOneof('credential')
        out['credential'] = {'kind': kind}
        if kind == 'password_credential':
            out['credential']['username'] = cred.password_credential.username
            out['credential']['password'] = cred.password_credential.password

        sleeper = xenon.JobDescription(executable='/bin/sleep', arguments=['600'],
                                       working_directory=workdir)
        job = sched.submit_batch_job(sleeper)
        sched.wait_until_running(job, 60000)
        out['in_get_jobs'] = job.id in [j.id for j in sched.get_jobs(queues=[])]
        queue = sched.get_default_queue_name()
        status = sched.get_queue_status(queue=queue)
        out['queue_status'] = {'name': status.name, 'error': status.error_type}
        out['queue_statuses'] = [q.name for q in sched.get_queue_statuses(queues=[])]
        out['missing_queue'] = raises(XenonException, sched.get_queue_status, queue='no-such-queue')
        sched.cancel_job(job)
        out['cancelled'] = sched.wait_until_done(job, 60000).done

        sfs = sched.get_file_system()
        out['scheduler_fs'] = sfs.get_adaptor_name()
        out['scheduler_fs_separator'] = sfs.get_path_separator()

        out['scheduler_descriptions'] = sorted(
            d.name for d in xenon.Scheduler.get_adaptor_descriptions())
        out['filesystem_descriptions'] = sorted(
            d.name for d in xenon.FileSystem.get_adaptor_descriptions())
        out['slurm_description'] = xenon.Scheduler.get_adaptor_description(name='slurm').name
        fs_stub = __server__.file_system_stub
        out['fs_location'] = fs_stub.getLocation(local.__wrapped__).location
        out['fs_credential'] = fs_stub.getCredential(local.__wrapped__).WhichOneof('credential')
        out['fs_properties'] = dict(fs_stub.getProperties(local.__wrapped__).properties)
        out['fs_is_open'] = bool(local.is_open())
        local.create_directory(path=xenon.Path(os.path.join(workdir, 'made')))
        local.create_file(path=xenon.Path(os.path.join(workdir, 'made', 'empty')))
        out['made_empty_file'] = os.path.getsize(os.path.join(workdir, 'made', 'empty')) == 0

        before = str(local.get_working_directory())
        local.set_working_directory(path=xenon.Path(workdir))
        out['working_directory_moved'] = str(local.get_working_directory()) == workdir != before
        local.write_to_file(xenon.Path('relative.txt'), iter([b'here']))
        out['relative_write_landed'] = os.path.exists(os.path.join(workdir, 'relative.txt'))

        src = os.path.join(workdir, 'src.bin')
        with open(src, 'wb') as h:
            h.write(b'x' * (1 << 20))
        op = local.copy(xenon.Path(src), local, xenon.Path(os.path.join(workdir, 'dst.bin')),
                        xenon.CopyMode.CREATE, False)
        st = local.get_status(copy_operation=op)
        out['copy_status_known'] = st.bytes_to_copy in (0, 1 << 20)
        st = local.cancel(copy_operation=op)
        out['cancel_done'] = st.done
        out['unknown_copy'] = raises(XenonException, local.get_status,
                                     copy_operation=xenon_pb2.CopyOperation(id='no-such-copy'))
    return out


def errors():
    """Bad input gives the Xenon exception classes."""
    init()
    out = {}
    out['unknown_adaptor'] = raises(UnknownAdaptorException, xenon.Scheduler.create,
                                    adaptor='pbs-pro', location='')
    out['unknown_fs_adaptor'] = raises(UnknownAdaptorException, xenon.FileSystem.create,
                                       adaptor='gridftp', location='')
    out['unknown_property'] = raises(
        UnknownPropertyException, xenon.Scheduler.create, adaptor='local', location='',
        properties={'xenon.adaptors.schedulers.local.bogus': '1'})
    out['bad_location'] = raises(InvalidLocationException, xenon.Scheduler.create,
                                 adaptor='slurm', location='nowhere://x')
    if os.environ.get('SSH_LOCATION'):
        out['wrong_password'] = raises(
            InvalidCredentialException, xenon.Scheduler.create, adaptor='ssh',
            location=os.environ['SSH_LOCATION'],
            password_credential=xenon.PasswordCredential(username=os.environ['XUSER'],
                                                         password='wrong-password'),
            properties={'xenon.adaptors.schedulers.ssh.strictHostKeyChecking': 'false'})
    names = list(xenon.Scheduler.get_adaptor_names().name)
    out['scheduler_adaptors'] = names
    out['filesystem_adaptors'] = list(xenon.FileSystem.get_adaptor_names())
    return out


if __name__ == '__main__':
    result = globals()[sys.argv[1]]()
    print(json.dumps(result, sort_keys=True))
