"""The demo programme: 2024 三十工程 (ten industrial, ten infrastructure, ten livelihood projects), plainly demo.

Names follow the kinds of project in Jiaozuo's programme; they are illustrative, not the official list.
"""

from __future__ import annotations

from shared.catalogue.issue_rules import IssueRules
from shared.envelope import Role

# The mayor (市长) is the organisation the issue rules name as the top of the escalation ladder; it has a leader's
# role (it sees what is escalated to it, as a sponsoring leader does) and sponsors no project.
MAYOR_ORG_ID: str = IssueRules.model_fields["mayor_org_id"].default
ORGANISATIONS: list[tuple[str, str, Role]] = [
    ("admin", "系统管理(演示)", Role.ADMIN),
    ("hq", "三十工程指挥部办公室(演示)", Role.HQ),
    ("auditor", "市审计局考评组(演示)", Role.AUDITOR),
    ("supervision", "市\u201c两办\u201d督查室(演示)", Role.SUPERVISION),
    ("leader-zhang", "包保市领导 张副市长(演示)", Role.LEADER),
    ("leader-li", "包保市领导 李副市长(演示)", Role.LEADER),
    ("leader-wang", "包保市领导 王副市长(演示)", Role.LEADER),
    (MAYOR_ORG_ID, "市人民政府 市长(演示)", Role.LEADER),
    ("unit-gxj", "市工业和信息化局(演示)", Role.UNIT),
    ("unit-fgw", "市发展和改革委员会(演示)", Role.UNIT),
    ("unit-jtj", "市交通运输局(演示)", Role.UNIT),
    ("unit-zjj", "市住房和城乡建设局(演示)", Role.UNIT),
    ("unit-slj", "市水利局(演示)", Role.UNIT),
    ("unit-jyj", "市教育局(演示)", Role.UNIT),
    ("unit-wjw", "市卫生健康委员会(演示)", Role.UNIT),
    ("unit-macun", "马村区人民政府(演示)", Role.UNIT),
    ("unit-shanyang", "山阳区人民政府(演示)", Role.UNIT),
]

LOCATIONS = ["马村区", "山阳区", "解放区", "中站区", "示范区", "修武县", "博爱县", "武陟县", "温县", "孟州市"]

# (name, unit, leader, total investment 万元, annual plan 万元, construction type, start month)
PROJECTS: dict[str, list[tuple[str, str, str, int, int, str, int]]] = {
    "industrial": [
        ("新能源电池材料产业园(演示)", "unit-gxj", "leader-zhang", 350000, 120000, "new", 3),
        ("高端装备制造基地(演示)", "unit-gxj", "leader-zhang", 180000, 60000, "new", 4),
        ("生物医药产业园二期(演示)", "unit-fgw", "leader-zhang", 220000, 80000, "continuing", 1),
        ("汽车零部件智能工厂(演示)", "unit-gxj", "leader-li", 95000, 40000, "new", 5),
        ("氢能产业示范项目(演示)", "unit-fgw", "leader-zhang", 150000, 50000, "new", 6),
        ("新材料精深加工项目(演示)", "unit-macun", "leader-li", 80000, 30000, "new", 3),
        ("绿色铝基材料项目(演示)", "unit-shanyang", "leader-zhang", 120000, 45000, "continuing", 2),
        ("电子信息产业园(演示)", "unit-gxj", "leader-wang", 200000, 70000, "new", 4),
        ("食品精深加工项目(演示)", "unit-shanyang", "leader-li", 60000, 25000, "new", 5),
        ("智能制造装备产业园(演示)", "unit-macun", "leader-wang", 110000, 40000, "new", 7),
    ],
    "infrastructure": [
        ("云台·天河生态治理项目(演示)", "unit-macun", "leader-li", 260000, 90000, "new", 3),
        ("城市快速通道工程(演示)", "unit-jtj", "leader-wang", 300000, 100000, "continuing", 1),
        ("城乡供水一体化工程(演示)", "unit-slj", "leader-li", 140000, 50000, "new", 4),
        ("老旧管网改造工程(演示)", "unit-zjj", "leader-wang", 70000, 35000, "new", 3),
        ("综合客运枢纽(演示)", "unit-jtj", "leader-wang", 160000, 60000, "new", 6),
        ("南水北调干渠生态廊道(演示)", "unit-slj", "leader-li", 90000, 40000, "continuing", 2),
        ("城市污水处理厂扩建(演示)", "unit-zjj", "leader-wang", 65000, 30000, "new", 5),
        ("国省干线公路改建(演示)", "unit-jtj", "leader-zhang", 180000, 70000, "new", 4),
        ("智慧城市基础设施(演示)", "unit-fgw", "leader-zhang", 50000, 25000, "new", 6),
        ("天然气管网互联互通(演示)", "unit-fgw", "leader-li", 45000, 20000, "new", 8),
    ],
    "livelihood": [
        ("市第一中学新校区(演示)", "unit-jyj", "leader-wang", 85000, 35000, "new", 3),
        ("区域医疗中心(演示)", "unit-wjw", "leader-li", 120000, 45000, "new", 4),
        ("保障性租赁住房(演示)", "unit-zjj", "leader-wang", 100000, 40000, "continuing", 1),
        ("城镇老旧小区改造(演示)", "unit-zjj", "leader-zhang", 60000, 30000, "new", 3),
        ("职业教育园区(演示)", "unit-jyj", "leader-li", 90000, 30000, "new", 5),
        ("妇幼保健院迁建(演示)", "unit-wjw", "leader-wang", 70000, 25000, "new", 6),
        ("城市公园提升工程(演示)", "unit-shanyang", "leader-zhang", 30000, 15000, "new", 4),
        ("养老服务综合体(演示)", "unit-macun", "leader-wang", 40000, 18000, "new", 7),
        ("全民健身中心(演示)", "unit-shanyang", "leader-li", 35000, 15000, "new", 5),
        ("农贸市场改造提升(演示)", "unit-macun", "leader-zhang", 20000, 10000, "new", 9),
    ],
}
