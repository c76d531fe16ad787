-- 知客 Zhike reference bot: demo business database (SQLite).
-- Loaded once by actions/demo_db.py when the database file does not exist yet.
-- Bill months are relative to the day the database is created (last three full months).

PRAGMA foreign_keys = ON;

CREATE TABLE plans (
    plan_id       TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    monthly_fee   REAL NOT NULL,
    data_gb       REAL NOT NULL,
    voice_minutes INTEGER NOT NULL,
    is_5g         INTEGER NOT NULL DEFAULT 0,
    description   TEXT NOT NULL
);

CREATE TABLE customers (
    phone        TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    id_tail      TEXT NOT NULL,           -- last 6 characters of the ID card
    vip_level    TEXT NOT NULL CHECK (vip_level IN ('普通', '银卡', '金卡', '钻石')),
    balance      REAL NOT NULL,
    data_used_gb REAL NOT NULL,           -- data used this month
    points       INTEGER NOT NULL,
    plan_id      TEXT NOT NULL REFERENCES plans (plan_id),
    status       TEXT NOT NULL CHECK (status IN ('active', 'lost', 'arrears')),
    city         TEXT NOT NULL
);

CREATE TABLE bills (
    phone     TEXT NOT NULL REFERENCES customers (phone),
    month     TEXT NOT NULL,              -- YYYY-MM
    plan_fee  REAL NOT NULL,
    extra_fee REAL NOT NULL,
    total     REAL NOT NULL,
    paid      INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (phone, month)
);

CREATE TABLE orders (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    order_no   TEXT UNIQUE,
    phone      TEXT NOT NULL REFERENCES customers (phone),
    order_type TEXT NOT NULL CHECK (order_type IN ('recharge', 'plan_change', 'suspend', 'restore')),
    detail     TEXT NOT NULL,
    amount     REAL NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (datetime('now', 'localtime'))
);

CREATE TABLE work_orders (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    wo_no       TEXT UNIQUE,
    phone       TEXT NOT NULL,
    district    TEXT NOT NULL,
    address     TEXT NOT NULL,
    fault       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT '待派单',
    created_at  TEXT NOT NULL DEFAULT (datetime('now', 'localtime'))
);

CREATE TABLE roaming_rates (
    country   TEXT PRIMARY KEY,           -- canonical Chinese name
    code      TEXT NOT NULL UNIQUE,       -- ISO 3166-1 alpha-2
    region    TEXT NOT NULL,
    daily_fee REAL NOT NULL,              -- 元 per day, data day pass
    daily_gb  REAL NOT NULL
);

INSERT INTO plans VALUES
    ('P01', '5G基础套餐',     99.00,  20, 300,  1, '月费99元，含国内通用流量20GB、通话300分钟'),
    ('P02', '5G畅享套餐',    129.00,  40, 500,  1, '月费129元，含国内通用流量40GB、通话500分钟'),
    ('P03', '5G尊享套餐',    199.00,  80, 1000, 1, '月费199元，含国内通用流量80GB、通话1000分钟，赠视频会员'),
    ('P04', '冰激凌无限套餐', 239.00, 100, 2000, 1, '月费239元，含国内通用流量100GB（超出后限速不收费）、通话2000分钟'),
    ('P05', '4G畅聊套餐',     58.00,  10, 300,  0, '月费58元，含国内通用流量10GB、通话300分钟'),
    ('P06', '4G流量王套餐',   39.00,  15, 100,  0, '月费39元，含国内通用流量15GB、通话100分钟'),
    ('P07', '青春校园卡',     29.00,  30, 100,  1, '月费29元，含国内通用流量30GB、通话100分钟，限在校学生办理'),
    ('P08', '银发关爱套餐',   19.00,   3, 300,  0, '月费19元，含国内通用流量3GB、通话300分钟，限60周岁以上用户办理');

INSERT INTO customers VALUES
    ('13812345678', '张伟', '123456', '金卡',  86.50, 12.40, 5820,  'P02', 'active',  '北京'),
    ('13912345678', '王芳', '20001X', '钻石', 320.00, 55.20, 18650, 'P03', 'active',  '上海'),
    ('15012345678', '李娜', '081234', '普通',  12.30,  8.90, 640,   'P05', 'active',  '广州'),
    ('15888886666', '刘洋', '356789', '银卡',  45.00, 14.10, 2300,  'P06', 'active',  '深圳'),
    ('17722223333', '陈静', '660021', '普通', -23.60,  2.10, 150,   'P08', 'arrears', '杭州'),
    ('18612345678', '杨磊', '10203X', '金卡', 158.80, 35.00, 7400,  'P01', 'active',  '成都'),
    ('18900001111', '赵敏', '778899', '钻石', 512.00, 90.50, 26800, 'P04', 'active',  '北京'),
    ('19912345678', '黄强', '456123', '普通',   5.20, 29.80, 320,   'P07', 'active',  '武汉'),
    ('13698765432', '周婷', '902134', '银卡',  66.60,  6.60, 1980,  'P05', 'lost',    '南京'),
    ('13512340000', '吴磊', '314159', '普通',  30.00,  1.20, 90,    'P06', 'active',  '西安');

-- Three full months of bills per customer: plan fee plus a small extra (calls, SMS, value-added).
INSERT INTO bills (phone, month, plan_fee, extra_fee, total, paid)
SELECT c.phone,
       strftime('%Y-%m', 'now', 'localtime', 'start of month', '-' || m.k || ' months'),
       p.monthly_fee,
       m.extra,
       p.monthly_fee + m.extra,
       CASE WHEN c.status = 'arrears' AND m.k = 1 THEN 0 ELSE 1 END
FROM customers AS c
JOIN plans AS p ON p.plan_id = c.plan_id
CROSS JOIN (SELECT 1 AS k, 6.50 AS extra UNION ALL
            SELECT 2, 0.00 UNION ALL
            SELECT 3, 12.80) AS m;

INSERT INTO roaming_rates VALUES
    ('中国香港',   'HK', '港澳台',   25.00, 1.0),
    ('中国澳门',   'MO', '港澳台',   25.00, 1.0),
    ('中国台湾',   'TW', '港澳台',   25.00, 1.0),
    ('日本',       'JP', '亚洲',     25.00, 1.0),
    ('韩国',       'KR', '亚洲',     25.00, 1.0),
    ('新加坡',     'SG', '亚洲',     25.00, 1.0),
    ('泰国',       'TH', '亚洲',     25.00, 1.0),
    ('马来西亚',   'MY', '亚洲',     25.00, 1.0),
    ('越南',       'VN', '亚洲',     25.00, 1.0),
    ('印度尼西亚', 'ID', '亚洲',     25.00, 1.0),
    ('菲律宾',     'PH', '亚洲',     25.00, 1.0),
    ('柬埔寨',     'KH', '亚洲',     30.00, 1.0),
    ('老挝',       'LA', '亚洲',     30.00, 1.0),
    ('缅甸',       'MM', '亚洲',     30.00, 1.0),
    ('印度',       'IN', '亚洲',     30.00, 1.0),
    ('斯里兰卡',   'LK', '亚洲',     30.00, 1.0),
    ('马尔代夫',   'MV', '亚洲',     30.00, 1.0),
    ('蒙古',       'MN', '亚洲',     30.00, 1.0),
    ('哈萨克斯坦', 'KZ', '亚洲',     30.00, 1.0),
    ('阿联酋',     'AE', '中东',     30.00, 1.0),
    ('土耳其',     'TR', '中东',     30.00, 1.0),
    ('美国',       'US', '美洲',     30.00, 1.0),
    ('加拿大',     'CA', '美洲',     30.00, 1.0),
    ('墨西哥',     'MX', '美洲',     40.00, 1.0),
    ('巴西',       'BR', '美洲',     40.00, 1.0),
    ('英国',       'GB', '欧洲',     30.00, 1.0),
    ('法国',       'FR', '欧洲',     30.00, 1.0),
    ('德国',       'DE', '欧洲',     30.00, 1.0),
    ('意大利',     'IT', '欧洲',     30.00, 1.0),
    ('西班牙',     'ES', '欧洲',     30.00, 1.0),
    ('葡萄牙',     'PT', '欧洲',     30.00, 1.0),
    ('荷兰',       'NL', '欧洲',     30.00, 1.0),
    ('瑞士',       'CH', '欧洲',     30.00, 1.0),
    ('奥地利',     'AT', '欧洲',     30.00, 1.0),
    ('希腊',       'GR', '欧洲',     30.00, 1.0),
    ('瑞典',       'SE', '欧洲',     30.00, 1.0),
    ('俄罗斯',     'RU', '欧洲',     30.00, 1.0),
    ('澳大利亚',   'AU', '大洋洲',   30.00, 1.0),
    ('新西兰',     'NZ', '大洋洲',   30.00, 1.0),
    ('埃及',       'EG', '非洲',     40.00, 1.0),
    ('南非',       'ZA', '非洲',     40.00, 1.0);
