"""issue_coordination: issues (问题) projects meet, their assignment, handling and confirmation, and the tracked
items dispatch meetings' decisions (议定事项) become (及时协调解决项目推进中遇到的困难问题).

The same files as intake and scheduling (docs/adr/0007): commands.py, domain.py, policies.py, handlers.py,
api.py (+ api_actions.py), views.py (typed answers), read_model.py and queries.py, reactions.py, bootstrap.py,
__main__.py, cli.py and seed.py. docs/adr/0020 records the service's decisions.
"""
