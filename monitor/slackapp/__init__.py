"""Slack's side of triage: a click on an alert's button, verified, applied and shown in place.

A click reaches us in one of two ways, both through slack-sdk: an HTTP request to the
dashboard's ``POST /slack/interactions``, signed with the app's signing secret
(``monitor.dashboard.slack`` verifies it with ``slack_sdk.signature.SignatureVerifier``), or
an envelope over a Socket Mode websocket that we opened with the app-level token
(:mod:`~monitor.slackapp.socketmode`). Either way the ``block_actions`` payload goes to
:func:`~monitor.slackapp.handle.handle_payload`:

- :mod:`~monitor.slackapp.clicks`: the payload read into clicks on our own elements (pure);
- :mod:`~monitor.slackapp.effects`: a click applied through ``monitor.triage``;
- :mod:`~monitor.slackapp.updates`: the message's new blocks: who did what and when, and Undo;
- :mod:`~monitor.slackapp.respond`: those blocks sent back, at the response_url or by
  ``chat.update``;
- :mod:`~monitor.slackapp.handle`: the four in order, one click at a time.
"""
