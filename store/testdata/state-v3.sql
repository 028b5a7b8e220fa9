PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES(3);
CREATE TABLE watches (
		app TEXT NOT NULL,
		release INTEGER NOT NULL,
		state TEXT NOT NULL,
		data TEXT NOT NULL,
		updated_ms BIGINT NOT NULL,
		PRIMARY KEY (app, release)
	);
INSERT INTO watches VALUES('shop',42,'watching','{"App":"shop","Release":{"id":"r42","version":42,"description":"Deploy abc","status":"succeeded","current":false,"created_at":"2026-12-06T06:27:25.184372232Z","updated_at":"0001-01-01T00:00:00Z"},"FirstVersion":42,"BaselineFrom":"2026-12-06T05:27:25.184372232Z","BaselineTo":"2026-12-06T06:27:25.184372232Z","LiveAt":"2026-12-06T06:27:25.184372232Z","Until":"2026-12-06T06:37:25.184372232Z","Baseline":{"from":"2026-12-06T05:27:25.184372232Z","to":"2026-12-06T06:27:25.184372232Z","seconds":3600,"requests":36000,"errors":36,"repeats":0,"has_repeats":false,"request_dispersion":1.5,"error_dispersion":1.2,"repeat_dispersion":1,"bin_seconds":10,"recent_rate":10},"Exclude":null,"Anomalous":false,"RolledBack":false,"Last":{"Verdict":{"status":"","findings":null},"Coverage":0},"State":"watching","Quarantined":0}',1796538745202);
CREATE TABLE decisions (
		id INTEGER PRIMARY KEY,
		app TEXT NOT NULL,
		release INTEGER NOT NULL,
		at_ms BIGINT NOT NULL,
		action TEXT NOT NULL,
		reason TEXT NOT NULL,
		evidence TEXT NOT NULL
	);
CREATE TABLE pauses (
		app TEXT PRIMARY KEY,
		by_who TEXT NOT NULL,
		reason TEXT NOT NULL,
		until_ms BIGINT NOT NULL,
		at_ms BIGINT NOT NULL,
		announced BOOLEAN NOT NULL DEFAULT FALSE
	);
INSERT INTO pauses VALUES('api','ana','db migration',1796545945184,1796538745184,0);
INSERT INTO pauses VALUES('web','bo','freeze',0,1796538745185,0);
CREATE TABLE approvals (
		app TEXT NOT NULL,
		release INTEGER NOT NULL,
		by_who TEXT NOT NULL,
		at_ms BIGINT NOT NULL,
		PRIMARY KEY (app, release)
	);
CREATE TABLE requests (
		id INTEGER PRIMARY KEY,
		app TEXT NOT NULL,
		kind TEXT NOT NULL,
		to_version INTEGER NOT NULL,
		by_who TEXT NOT NULL,
		reason TEXT NOT NULL,
		at_ms BIGINT NOT NULL,
		done_ms BIGINT NOT NULL DEFAULT 0,
		outcome TEXT NOT NULL DEFAULT ''
	);
INSERT INTO requests VALUES(1,'api','pause',0,'ana','db migration',1796538745184,0,'');
INSERT INTO requests VALUES(2,'web','pause',0,'bo','freeze',1796538745185,0,'');
INSERT INTO requests VALUES(3,'api','rollback',41,'ana','bad deploy',1796538745185,0,'');
CREATE TABLE journal (
		id INTEGER PRIMARY KEY,
		app TEXT NOT NULL,
		bad INTEGER NOT NULL,
		target INTEGER NOT NULL,
		reason TEXT NOT NULL,
		by_who TEXT NOT NULL,
		started_ms BIGINT NOT NULL,
		finished_ms BIGINT NOT NULL DEFAULT 0,
		outcome TEXT NOT NULL DEFAULT '',
		created INTEGER NOT NULL DEFAULT 0,
		error TEXT NOT NULL DEFAULT ''
	);
INSERT INTO journal VALUES(1,'shop',42,41,'errors 30%','relwatch',1796538745186,0,'',0,'');
INSERT INTO journal VALUES(2,'shop',40,39,'errors 20%','relwatch',1796538745186,1796538745187,'done',41,'');
CREATE TABLE threads (
		chat TEXT NOT NULL,
		thread TEXT NOT NULL,
		ref TEXT NOT NULL,
		opening TEXT NOT NULL,
		PRIMARY KEY (chat, thread)
	);
CREATE TABLE leases (
		app TEXT PRIMARY KEY,
		holder TEXT NOT NULL,
		expires_ms BIGINT NOT NULL
	);
INSERT INTO leases VALUES('shop','worker.1/42',1796538805206);
CREATE TABLE quarantine (
		app TEXT NOT NULL,
		slug TEXT NOT NULL,
		release INTEGER NOT NULL,
		reason TEXT NOT NULL,
		at_ms BIGINT NOT NULL,
		PRIMARY KEY (app, slug)
	);
CREATE TABLE workers (
		holder TEXT PRIMARY KEY,
		seen_ms BIGINT NOT NULL
	);
INSERT INTO workers VALUES('worker.1/42',1796538745204);
CREATE TABLE outbox (
		id INTEGER PRIMARY KEY,
		chat TEXT NOT NULL,
		payload TEXT NOT NULL,
		created_ms BIGINT NOT NULL,
		claimed_by TEXT NOT NULL DEFAULT '',
		claimed_ms BIGINT NOT NULL DEFAULT 0,
		done_ms BIGINT NOT NULL DEFAULT 0,
		outcome TEXT NOT NULL DEFAULT ''
	);
INSERT INTO outbox VALUES(1,'slack','{"Kind":"watch.started","At":"2026-12-06T06:32:25.184372232Z","App":"shop","Release":42,"Description":"Deploy abc","Target":0,"Rollback":0,"Reason":"","Summary":"","Findings":null,"WatchFor":600000000000,"Baseline":3600000000000,"Route":"GET /","Auto":true,"Replaces":0,"Attempts":0,"Err":"","Trend":null,"By":"","Until":"0001-01-01T00:00:00Z","PausedBy":"","Quarantined":0}',1796538745188,'worker.1/42',1796538745188,0,'');
INSERT INTO outbox VALUES(2,'slack','{"Kind":"anomaly","At":"2026-12-06T06:32:25.184372232Z","App":"shop","Release":42,"Description":"","Target":41,"Rollback":0,"Reason":"error share 30% (was 1%)","Summary":"errors 30%","Findings":null,"WatchFor":0,"Baseline":0,"Route":"","Auto":true,"Replaces":0,"Attempts":0,"Err":"","Trend":null,"By":"","Until":"0001-01-01T00:00:00Z","PausedBy":"","Quarantined":0}',1796538745192,'worker.1/42',1796538745192,0,'');
INSERT INTO outbox VALUES(3,'slack','{"Kind":"watch.started","At":"2026-12-06T06:32:25.184372232Z","App":"web","Release":7,"Description":"Deploy def","Target":0,"Rollback":0,"Reason":"","Summary":"","Findings":null,"WatchFor":600000000000,"Baseline":3600000000000,"Route":"GET /","Auto":true,"Replaces":0,"Attempts":0,"Err":"","Trend":null,"By":"","Until":"0001-01-01T00:00:00Z","PausedBy":"","Quarantined":0}',1796538745194,'worker.1/42',1796538745194,1796538745194,'sent');
CREATE INDEX decisions_app ON decisions (app, at_ms);
CREATE INDEX outbox_pending ON outbox (chat, done_ms, id);
COMMIT;
