"""The weekly tip: one scheduled post per channel per week, never repeated, never doubled.

* ``schedule``  - cron slots in ``COACH_TIMEZONE``, the grace window, week keys, the clock
* ``rotation``  - which tip a channel gets (no repeats, full tips first, what reps asked)
* ``slack``     - chat.postMessage / conversations.history with double-post-proof retries
* ``workspaces`` - whose bot token posts to each channel (``T…:C…`` entries, OAuth installs)
* ``post``      - the message (via ``bot.render``) and the claim-post-confirm protocol
* ``scheduler`` - ``coach weekly --run``, the clock process
* ``cli``       - ``coach weekly --preview | --post-now | --run``
"""
