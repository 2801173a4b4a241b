-- TEST-ONLY fixture for the serve tests (tests/serve/world.py): health
-- scores, one active model's predictions, a backtest and alerts, so the API
-- and the dashboard have something to show before the scorecard, model and
-- rules subsystems write their own. Never used by product code.
--
-- Scores: one per (metric snapshot, account), a deterministic function of
-- the ids: score = (37 * account + 5 * week) % 100, colour red below 40,
-- yellow below 70, green otherwise; change against 4 snapshots (28 days)
-- earlier.
INSERT INTO models(id, name, kind, created_at, active, meta, body)
VALUES (1, 'fixture', 'logreg', 0, 1,
  '{"library":"liblinear 2.30","horizon_days":90,"features":["a","b"],'
  || '"test":{"roc_auc":0.81,"roc":[[0,0],[1,1]]},'
  || '"importance":[{"metric":"active_licence_ratio","family":"onboarding","share":0.3,"direction":-1}]}',
  x'00');
WITH x AS (
  SELECT s.day AS day, a.id AS account, (37 * a.id + 5 * (s.day / 7)) % 100 AS sc
  FROM metric_snapshots s CROSS JOIN accounts a
)
INSERT INTO scores(day, account, scorecard, score, colour, change, contrib)
SELECT day, account, 'fixture', sc,
       CASE WHEN sc < 40 THEN 2 WHEN sc < 70 THEN 1 ELSE 0 END,
       CASE WHEN day - 28 >= (SELECT min(day) FROM metric_snapshots)
            THEN sc - (37 * account + 5 * ((day - 28) / 7)) % 100 END,
       json_object('usage', sc - 50, 'support', 10)
FROM x;
-- Predictions on the last two snapshots: probability = (100 - score) / 125.
INSERT INTO predictions(day, account, model, probability, drivers)
SELECT s.day, s.account, 1, (100.0 - s.score) / 125.0,
       json_array(json_object('metric', 'active_users', 'value', s.score / 10,
                              'contribution', (50 - s.score) / 100.0,
                              'text', 'Active users fell to ' || (s.score / 10)))
FROM scores s WHERE s.day >= (SELECT max(day) - 7 FROM metric_snapshots);
INSERT INTO backtests(at, subject, result) VALUES (1735689600, 'model fixture',
  '{"auc": 0.81, "brier": 0.12, "roc": [[0,0],[0.1,0.5],[0.3,0.8],[1,1]],' ||
  ' "calibration": [{"predicted":0.1,"observed":0.08},{"predicted":0.5,"observed":0.55},' ||
  '{"predicted":0.9,"observed":0.85}], "lead_time": [[30,0.2],[60,0.5],[90,0.3]]}');
-- Three open alerts in the real alerts table (lib/alerts/alerts.c, docs/alerts.md:
-- status 1 open, severity 2 critical), as `churnwatch evaluate` writes them.
INSERT INTO alerts(rule, scope, account, user, status, severity, opened_day, last_firing_day,
  vals, playbook, created_at)
SELECT 'engagement_drop', 1, id, 0, 1, 2, 20089 + id, 20089 + id,
  '{"events_change_pct":-52.5,"tenure_days":200}', 're_engage', 1735689600 + id
FROM accounts WHERE id <= 3;
INSERT INTO alert_events(alert, kind, day, at, actor, note)
SELECT id, 1, opened_day, created_at, NULL, NULL FROM alerts;
