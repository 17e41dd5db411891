"""intake: programmes, projects, task forces, phases and progress reports (台账), organisations and credentials.

Every service has the same files; read them in this order (docs/adr/0007 says why they are cut this way):

- commands.py    what clients ask: pydantic commands, `...Body` models where the path names the object
- domain.py      states, `evolve` and `decide_x(state, cmd) -> event`, free of I/O (identity.py: the same for
                 organisations and credentials)
- policies.py    who may do what
- handlers.py    the use cases: authorise, check references (queries.py), `handle` (load -> decide -> append)
- api.py         the routes: build the command, make one handler call
- read_model.py  the tables the log is folded into; queries.py holds every SQL read of them
- bootstrap.py   the composition root; __main__.py the process; cli.py, seed.py, demo_data.py operator and demo tools
"""
